package bccbackend

import (
	"fmt"

	"github.com/evtrace/evtrace/tracer/backend"
	"github.com/evtrace/evtrace/tracer/bpfmap"
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
// in the order libbcc gives them, with the key and leaf types libbcc
// recorded and the type and sizes the kernel reports. A map the kernel
// will not describe has Kind "map" and Type 0.
func (b *bccProgram) Maps() []backend.MapInfo {
	var maps []backend.MapInfo
	for id := uint64(0); id < b.mod.TableSize(); id++ {
		desc := b.mod.TableDesc(id)
		name, _ := desc["name"].(string)
		m := backend.MapInfo{Name: name, Kind: "map", FD: -1}
		m.KeyDesc, _ = desc["key_desc"].(string)
		m.LeafDesc, _ = desc["leaf_desc"].(string)
		if fd, err := b.MapFD(name); err == nil {
			m.FD = fd
			if spec, err := bpfmap.Describe(fd); err == nil {
				m.Type, m.KeySize, m.ValueSize, m.MaxEntries = spec.Type, spec.KeySize, spec.ValueSize, spec.MaxEntries
				m.Kind = mapKinds[spec.Type]
				if m.Kind == "" {
					m.Kind = fmt.Sprintf("map type %d", spec.Type)
				}
			}
		}
		maps = append(maps, m)
	}
	return maps
}

// mapType returns the kernel's type of a BPF map.
func mapType(fd int) (uint32, error) {
	spec, err := bpfmap.Describe(fd)
	return spec.Type, err
}
