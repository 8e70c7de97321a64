package interactions

import "strings"

// SplitCSV splits one CSV record that holds no line break, per RFC 4180 as
// encoding/csv reads it: a field that starts with a double quote runs to the
// matching quote, "" inside it is one quote, and a quote anywhere else makes
// the record malformed (ok false). Fields are appended to dst.
func SplitCSV(line string, dst []string) (fields []string, ok bool) {
	if strings.IndexByte(line, '"') < 0 {
		return splitPlain(line, ',', dst), true
	}
	for {
		if !strings.HasPrefix(line, `"`) {
			end := strings.IndexByte(line, ',')
			field := line
			if end >= 0 {
				field = line[:end]
			}
			if strings.IndexByte(field, '"') >= 0 {
				return dst, false
			}
			dst = append(dst, field)
			if end < 0 {
				return dst, true
			}
			line = line[end+1:]
			continue
		}
		// Quoted field.
		var b strings.Builder
		rest := line[1:]
		for {
			q := strings.IndexByte(rest, '"')
			if q < 0 {
				return dst, false // unterminated
			}
			b.WriteString(rest[:q])
			rest = rest[q+1:]
			if strings.HasPrefix(rest, `"`) {
				b.WriteByte('"')
				rest = rest[1:]
				continue
			}
			break
		}
		dst = append(dst, b.String())
		switch {
		case rest == "":
			return dst, true
		case rest[0] == ',':
			line = rest[1:]
		default:
			return dst, false // text after the closing quote
		}
	}
}

// splitPlain splits on sep with no quoting (TSV as IANA defines it).
func splitPlain(line string, sep byte, dst []string) []string {
	for {
		i := strings.IndexByte(line, sep)
		if i < 0 {
			return append(dst, line)
		}
		dst = append(dst, line[:i])
		line = line[i+1:]
	}
}
