package cli

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// tree is a small command tree: root > group > leaf (2 args, -o, --addr
// with a deprecated alias --store).
func tree(ran *[]string) *cobra.Command {
	root := &cobra.Command{Use: "tool"}
	group := &cobra.Command{Use: "group", Short: "a group"}
	var addr string
	var out *Output
	leaf := &cobra.Command{
		Use: "leaf A B", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			*ran = append(*ran, strings.Join(args, ",")+" addr="+addr+" o="+string(*out))
			if args[0] == "missing" {
				return ExitError{Code: 1}
			}
			if args[0] == "fail" {
				return errors.New("it failed")
			}
			return nil
		},
	}
	leaf.Flags().StringVar(&addr, "addr", "", "address")
	Alias(leaf.Flags(), "store", "addr")
	out = OutputFlag(leaf.Flags())
	group.AddCommand(leaf)
	root.AddCommand(group)
	Prepare(root)
	return root
}

func execute(args ...string) (code int, stderr string, ran []string) {
	var errb bytes.Buffer
	root := tree(&ran)
	root.SetOut(&bytes.Buffer{})
	code = Execute(root, args, &errb)
	return code, errb.String(), ran
}

// TestExitCodes: usage mistakes exit 2 with the command's usage and name;
// failures exit 2 with the message; ExitError chooses the code; success
// exits 0.
func TestExitCodes(t *testing.T) {
	for _, c := range []struct {
		args     []string
		code     int
		contains []string
	}{
		{[]string{"group", "leaf", "a", "b"}, 0, nil},
		{[]string{"group", "lef", "a", "b"}, 2, []string{`tool group: unknown command "lef" (did you mean leaf?)`, "Usage:", "tool group [command]"}},
		{[]string{"grup"}, 2, []string{`tool: unknown command "grup"`, "Usage:"}},
		{[]string{"group", "leaf", "a"}, 2, []string{"tool group leaf: accepts 2 arg(s), received 1", "Usage:\n  tool group leaf A B"}},
		{[]string{"group", "leaf", "a", "b", "--bogus"}, 2, []string{"tool group leaf: unknown flag: --bogus", "Usage:"}},
		{[]string{"group", "leaf", "a", "b", "-o", "yaml"}, 2, []string{"must be table or json", "Usage:"}},
		{[]string{"group", "leaf", "missing", "b"}, 1, nil},
		{[]string{"group", "leaf", "fail", "b"}, 2, []string{"tool group leaf: it failed"}},
	} {
		code, stderr, _ := execute(c.args...)
		if code != c.code {
			t.Errorf("%v: exit %d, want %d (stderr %q)", c.args, code, c.code, stderr)
		}
		for _, want := range c.contains {
			if !strings.Contains(stderr, want) {
				t.Errorf("%v: stderr lacks %q:\n%s", c.args, want, stderr)
			}
		}
		if c.code == 0 || c.code == 1 {
			if stderr != "" {
				t.Errorf("%v: unexpected stderr %q", c.args, stderr)
			}
		}
	}
}

// TestGroupAloneShowsHelp: a group called without a subcommand shows its
// help and succeeds.
func TestGroupAloneShowsHelp(t *testing.T) {
	var ran []string
	root := tree(&ran)
	var out bytes.Buffer
	root.SetOut(&out)
	if code := Execute(root, []string{"group"}, &bytes.Buffer{}); code != 0 || !strings.Contains(out.String(), "Available Commands") {
		t.Fatalf("exit %d, output %q", code, out.String())
	}
}

// TestAlias: a deprecated alias sets the same value as the flag it names,
// is hidden from the help, and says what to use instead.
func TestAlias(t *testing.T) {
	code, stderr, ran := execute("group", "leaf", "a", "b", "--store", "h:1", "-o", "json")
	if code != 0 || len(ran) != 1 || ran[0] != "a,b addr=h:1 o=json" {
		t.Fatalf("exit %d, ran %q, stderr %q", code, ran, stderr)
	}
	var discard []string
	root := tree(&discard)
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetArgs([]string{"group", "leaf", "--help"})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "--store") || !strings.Contains(out.String(), "--addr") {
		t.Fatalf("help shows the alias or hides the flag:\n%s", out.String())
	}
	// pflag prints the deprecation note on the command's output.
	out.Reset()
	root.SetArgs([]string{"group", "leaf", "x", "y", "--store", "h:2"})
	if err := root.Execute(); err != nil || !strings.Contains(out.String(), "use --addr") {
		t.Fatalf("err %v, note %q", err, out.String())
	}
}

func TestKeys(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []byte
	}{{"apple", []byte("apple")}, {"0x00ff", []byte{0, 0xff}}, {"0x", []byte{}}, {"0X1", []byte("0X1")}} {
		got, err := ParseKey(c.in)
		if err != nil || !bytes.Equal(got, c.want) {
			t.Errorf("ParseKey(%q) = %x, %v; want %x", c.in, got, err, c.want)
		}
	}
	if _, err := ParseKey("0xzz"); !errors.Is(err, ErrBadKey) {
		t.Errorf("ParseKey(0xzz) = %v, want ErrBadKey", err)
	}
	for _, k := range [][]byte{[]byte("apple"), {0, 0xff}, []byte("0x41"), []byte("a b"), {}, []byte("é")} {
		s := FormatKey(k)
		back, err := ParseKey(s)
		if err != nil || !bytes.Equal(back, k) {
			t.Errorf("FormatKey(%x) = %q, which reads back as %x, %v", k, s, back, err)
		}
	}
	if s := FormatKey([]byte("banana")); s != "banana" {
		t.Errorf("FormatKey(banana) = %q", s)
	}
}

func TestSchedulerFromEnvironment(t *testing.T) {
	t.Setenv(SchedulerEnv, "")
	if got := Scheduler(); got != DefaultScheduler {
		t.Fatalf("Scheduler() = %q without %s, want %q", got, SchedulerEnv, DefaultScheduler)
	}
	t.Setenv(SchedulerEnv, "10.0.0.1:2379")
	if got := Scheduler(); got != "10.0.0.1:2379" {
		t.Fatalf("Scheduler() = %q, want the environment's", got)
	}
}
