package table

import "testing"

func TestTable(t *testing.T) {
	for _, name := range []string{"a", "b", "c"} {
		t.Run(name, func(t *testing.T) {
			if name == "c" {
				t.Fatal("c is wrong")
			}
		})
	}
}

func TestPlain(t *testing.T) {}

func TestSkipped(t *testing.T) { t.Skip("not on this machine") }
