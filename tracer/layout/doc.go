// Package layout says where each field of a record a probe submits lies
// and decodes records into Go values: the struct's layout from libbcc's
// field list and the C declaration in the source (bitfields, packing,
// enums, arrays), and the argument structs of tracepoints from their format
// files. It is pure Go: changing how a record is decoded happens here.
package layout
