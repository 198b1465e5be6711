package interop_test

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const setupHint = "run `bash scripts/setup.sh` from the repository root"

// TestGeneratedCodeIsCurrent regenerates the stubs with generate.sh into a scratch directory and
// fails when gen/ differs from them: after changing proto/user/user.proto, buf.gen.yaml or a
// plugin version, run `bash generate.sh` and commit gen/.
func TestGeneratedCodeIsCurrent(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	buf := os.Getenv("BUF")
	if buf == "" {
		buf = filepath.Join(root, "packages/proto/node_modules/.bin/buf")
	}
	for _, tool := range []string{buf, filepath.Join(root, ".tools/bin/protoc-gen-go"), filepath.Join(root, ".tools/bin/protoc-gen-go-grpc")} {
		if _, err := os.Stat(tool); err != nil {
			t.Fatalf("%s is missing: %s", tool, setupHint)
		}
	}

	scratch := t.TempDir()
	cmd := exec.Command("bash", "generate.sh", "-o", scratch)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("generate.sh failed (%v):\n%s\n(if a tool is missing or outdated, %s)", err, out, setupHint)
	}

	committed := readTree(t, "gen")
	fresh := readTree(t, filepath.Join(scratch, "gen"))
	names := func(m map[string][]byte) []string {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		return keys
	}
	if got, want := names(committed), names(fresh); !slices.Equal(got, want) {
		t.Fatalf("gen/ holds %v, a fresh generation %v: run `bash generate.sh` and commit gen/", got, want)
	}
	if len(fresh) == 0 {
		t.Fatal("generate.sh produced nothing")
	}
	for name, want := range fresh {
		if !bytes.Equal(committed[name], want) {
			t.Errorf("gen/%s is stale: run `bash generate.sh` and commit gen/", name)
		}
	}
}

func readTree(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		files[filepath.ToSlash(rel)] = data
		return nil
	})
	if err != nil && !strings.Contains(err.Error(), "no such file") {
		t.Fatal(err)
	}
	return files
}
