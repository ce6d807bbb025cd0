package serverconf

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"strings"
	"unicode/utf16"
)

// xnode is an element of a parsed XML document; names are local names.
type xnode struct {
	name     string
	attrs    []xml.Attr
	line     int
	children []*xnode
	text     strings.Builder
}

func (n *xnode) attr(name string) string {
	for _, a := range n.attrs {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

// attrFold is attr with a case-insensitive name, as IIS reads them.
func (n *xnode) attrFold(name string) (string, bool) {
	for _, a := range n.attrs {
		if strings.EqualFold(a.Name.Local, name) {
			return a.Value, true
		}
	}
	return "", false
}

func (n *xnode) child(name string) *xnode {
	for _, c := range n.children {
		if c.name == name {
			return c
		}
	}
	return nil
}

const (
	maxXMLDepth = 256
	maxXMLNodes = 1 << 20
)

// parseXML reads a whole document into a tree, recording the line each
// element starts on. UTF-16 documents (with a byte order mark) are
// converted first; any declared charset is then read as is.
func parseXML(src string, data []byte) (*xnode, error) {
	data = utf16ToUTF8(stripBOM(data))
	if err := checkText(src, data); err != nil {
		return nil, err
	}
	d := xml.NewDecoder(bytes.NewReader(data))
	d.CharsetReader = func(_ string, r io.Reader) (io.Reader, error) { return r, nil }
	d.Entity = map[string]string{}
	var root *xnode
	var stack []*xnode
	nodes := 0
	for {
		line, col := d.InputPos()
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			l, c := d.InputPos()
			var se *xml.SyntaxError
			msg := err.Error()
			if errors.As(err, &se) {
				msg = se.Msg
				if se.Line > 0 && se.Line != l {
					l, c = se.Line, 0
				}
			}
			return nil, &ParseError{File: src, Line: l, Col: c, Msg: "XML: " + msg}
		}
		switch t := tok.(type) {
		case xml.StartElement:
			nodes++
			if len(stack) >= maxXMLDepth || nodes > maxXMLNodes {
				return nil, &ParseError{File: src, Line: line, Col: col, Msg: "XML nested too deeply or too many elements"}
			}
			n := &xnode{name: t.Name.Local, attrs: t.Attr, line: line}
			if len(stack) == 0 {
				if root != nil {
					return nil, &ParseError{File: src, Line: line, Col: col, Msg: "XML: more than one root element"}
				}
				root = n
			} else {
				p := stack[len(stack)-1]
				p.children = append(p.children, n)
			}
			stack = append(stack, n)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) > 0 {
				stack[len(stack)-1].text.Write(t)
			} else if len(bytes.TrimSpace(t)) > 0 {
				return nil, &ParseError{File: src, Line: line, Col: col, Msg: "XML: text outside the root element"}
			}
		}
	}
	if root == nil {
		return nil, &ParseError{File: src, Line: 1, Col: 1, Msg: "XML: no root element"}
	}
	return root, nil
}

func utf16ToUTF8(data []byte) []byte {
	if len(data) < 2 {
		return data
	}
	var be bool
	switch {
	case data[0] == 0xff && data[1] == 0xfe:
	case data[0] == 0xfe && data[1] == 0xff:
		be = true
	default:
		return data
	}
	data = data[2:]
	u := make([]uint16, len(data)/2)
	for i := range u {
		if be {
			u[i] = uint16(data[2*i])<<8 | uint16(data[2*i+1])
		} else {
			u[i] = uint16(data[2*i+1])<<8 | uint16(data[2*i])
		}
	}
	return []byte(string(utf16.Decode(u)))
}
