package units

import (
	"fmt"
	"os"

	"github.com/BurntSushi/toml"
)

// LoadFile reads the TOML file at path over v: keys absent from the file
// keep v's values, and a key v does not know is an error that names it. A
// file that cannot be decoded, or has unknown keys, gives an error that
// wraps invalid (the caller's sentinel for a bad config); one that cannot
// be read wraps the os error.
func LoadFile(path string, v any, invalid error) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config: read %s: %w", path, err)
	}
	md, err := toml.Decode(string(b), v)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", invalid, path, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		return fmt.Errorf("%w: %s: unknown keys %v", invalid, path, und)
	}
	return nil
}
