package bccbackend

import (
	"fmt"

	"github.com/evtrace/evtrace/tracer/backend"
	"golang.org/x/sys/unix"
)

// mapKinds names the kernel's map types.
var mapKinds = map[uint32]string{
	unix.BPF_MAP_TYPE_HASH: "hash", unix.BPF_MAP_TYPE_ARRAY: "array",
	unix.BPF_MAP_TYPE_PROG_ARRAY: "prog_array", unix.BPF_MAP_TYPE_PERF_EVENT_ARRAY: "perf_event_array",
	unix.BPF_MAP_TYPE_PERCPU_HASH: "percpu_hash", unix.BPF_MAP_TYPE_PERCPU_ARRAY: "percpu_array",
	unix.BPF_MAP_TYPE_STACK_TRACE: "stack_trace", unix.BPF_MAP_TYPE_CGROUP_ARRAY: "cgroup_array",
	unix.BPF_MAP_TYPE_LRU_HASH: "lru_hash", unix.BPF_MAP_TYPE_LRU_PERCPU_HASH: "lru_percpu_hash",
	unix.BPF_MAP_TYPE_LPM_TRIE: "lpm_trie", unix.BPF_MAP_TYPE_ARRAY_OF_MAPS: "array_of_maps",
	unix.BPF_MAP_TYPE_HASH_OF_MAPS: "hash_of_maps", unix.BPF_MAP_TYPE_QUEUE: "queue",
	unix.BPF_MAP_TYPE_STACK: "stack", unix.BPF_MAP_TYPE_RINGBUF: "ringbuf",
	unix.BPF_MAP_TYPE_TASK_STORAGE: "task_storage", unix.BPF_MAP_TYPE_INODE_STORAGE: "inode_storage",
	unix.BPF_MAP_TYPE_SK_STORAGE: "sk_storage",
}

// Maps lists the program's maps (bcc's tables, BPF_HASH and the like),
// in the order libbcc gives them. The ELF backend's are not listed.
func (b *bccProgram) Maps() []backend.MapInfo {
	var maps []backend.MapInfo
	for id := uint64(0); id < b.mod.TableSize(); id++ {
		name, _ := b.mod.TableDesc(id)["name"].(string)
		m := backend.MapInfo{Name: name, Kind: "map"}
		if fd, err := b.MapFD(name); err == nil {
			if typ, err := mapType(fd); err == nil {
				m.Kind = mapKinds[typ]
				if m.Kind == "" {
					m.Kind = fmt.Sprintf("map type %d", typ)
				}
			}
		}
		maps = append(maps, m)
	}
	return maps
}
