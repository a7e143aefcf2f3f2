package listen

// eventField is where one member of struct listen_event lies.
type eventField struct {
	Off, Size int
}

// of is the field's bytes in a record.
func (f eventField) of(b []byte) []byte { return b[f.Off : f.Off+f.Size] }

// eventLayout is struct listen_event (probes/listen.c), member by member,
// named as in the C: the one description of the event on the Go side.
// DecodeEvent reads with it, the tests write records with it, and
// TestEventLayoutMatchesListenC checks it against listen.c's
// _Static_asserts, which the compiler checks against the struct.
var eventLayout = struct {
	TsNs, Pid, Tid, Netns, Backlog, Family, Lport, Laddr, Comm, Ret, Ino, Kind, MaxBacklog eventField
}{
	TsNs:       eventField{0, 8},
	Pid:        eventField{8, 4},
	Tid:        eventField{12, 4},
	Netns:      eventField{16, 4},
	Backlog:    eventField{20, 4},
	Family:     eventField{24, 2},
	Lport:      eventField{26, 2},
	Laddr:      eventField{28, 16},
	Comm:       eventField{44, 16},
	Ret:        eventField{60, 4},
	Ino:        eventField{64, 8},
	Kind:       eventField{72, 4},
	MaxBacklog: eventField{76, 4},
}
