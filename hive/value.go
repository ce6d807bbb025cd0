package hive

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"unicode/utf16"
)

// Type is the data type of a registry value.
type Type uint32

// Value types.
const (
	None              Type = 0
	SZ                Type = 1
	ExpandSZ          Type = 2
	Binary            Type = 3
	DWord             Type = 4
	DWordBigEndian    Type = 5
	Link              Type = 6
	MultiSZ           Type = 7
	ResourceList      Type = 8
	FullResourceDesc  Type = 9
	ResourceReqs      Type = 10
	QWord             Type = 11
	maxKnownValueType      = QWord
)

var typeNames = [...]string{
	"REG_NONE", "REG_SZ", "REG_EXPAND_SZ", "REG_BINARY", "REG_DWORD", "REG_DWORD_BIG_ENDIAN", "REG_LINK",
	"REG_MULTI_SZ", "REG_RESOURCE_LIST", "REG_FULL_RESOURCE_DESCRIPTOR", "REG_RESOURCE_REQUIREMENTS_LIST", "REG_QWORD",
}

// String is the Windows name of the type ("REG_SZ"), or "REG_0x..." for
// an unknown one.
func (t Type) String() string {
	if t <= maxKnownValueType {
		return typeNames[t]
	}
	return fmt.Sprintf("REG_0x%x", uint32(t))
}

// IsString reports whether data of type t is text: REG_SZ, REG_EXPAND_SZ,
// REG_MULTI_SZ or REG_LINK.
func (t Type) IsString() bool {
	return t == SZ || t == ExpandSZ || t == MultiSZ || t == Link
}

// Strings decodes data of type t as Windows APIs show it: the UTF-16LE
// strings of a string type (a REG_MULTI_SZ may hold several; trailing NULs
// and an odd last byte are dropped), the decimal number of a REG_DWORD or
// REG_QWORD (as ECS registry.data.strings wants it), and nil for other
// types. Data of the wrong length for a number is an error.
func Strings(t Type, data []byte) ([]string, error) {
	le := binary.LittleEndian
	switch t {
	case SZ, ExpandSZ, Link:
		return []string{utf16String(data)}, nil
	case MultiSZ:
		var out []string
		u := utf16Units(data)
		start := 0
		for i, c := range u {
			if c != 0 {
				continue
			}
			if i == start { // an empty string ends the list
				return out, nil
			}
			out = append(out, string(utf16.Decode(u[start:i])))
			start = i + 1
		}
		if start < len(u) { // unterminated last string
			out = append(out, string(utf16.Decode(u[start:])))
		}
		return out, nil
	case DWord, DWordBigEndian:
		if len(data) != 4 {
			return nil, fmt.Errorf("%s of %d bytes (want 4)", t, len(data))
		}
		if t == DWordBigEndian {
			return []string{strconv.FormatUint(uint64(binary.BigEndian.Uint32(data)), 10)}, nil
		}
		return []string{strconv.FormatUint(uint64(le.Uint32(data)), 10)}, nil
	case QWord:
		if len(data) != 8 {
			return nil, fmt.Errorf("%s of %d bytes (want 8)", t, len(data))
		}
		return []string{strconv.FormatUint(le.Uint64(data), 10)}, nil
	}
	return nil, nil
}

func utf16Units(data []byte) []uint16 {
	u := make([]uint16, len(data)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(data[2*i:])
	}
	return u
}

// utf16String decodes a REG_SZ: up to the first NUL, as Windows APIs
// return it.
func utf16String(data []byte) string {
	u := utf16Units(data)
	for i, c := range u {
		if c == 0 {
			u = u[:i]
			break
		}
	}
	return string(utf16.Decode(u))
}
