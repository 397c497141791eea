package cli

import (
	"encoding/hex"
	"fmt"
	"strings"
)

// ErrBadKey: a key argument starts with 0x but is not hex.
var ErrBadKey = fmt.Errorf("cli: bad key")

// ParseKey reads a key given on the command line: 0x-prefixed hex
// ("0x00ff"), or else the text itself.
func ParseKey(s string) ([]byte, error) {
	if h, ok := strings.CutPrefix(s, "0x"); ok {
		b, err := hex.DecodeString(h)
		if err != nil {
			return nil, fmt.Errorf("%w: %q: the 0x prefix needs hex digits after it: %v", ErrBadKey, s, err)
		}
		return b, nil
	}
	return []byte(s), nil
}

// FormatKey shows a key so that ParseKey reads it back: as text when it is
// printable ASCII without spaces and does not itself start with 0x, else as
// 0x-hex.
func FormatKey(b []byte) string {
	if len(b) > 0 && !strings.HasPrefix(string(b), "0x") {
		printable := true
		for _, c := range b {
			if c < 0x21 || c > 0x7e {
				printable = false
				break
			}
		}
		if printable {
			return string(b)
		}
	}
	return "0x" + hex.EncodeToString(b)
}
