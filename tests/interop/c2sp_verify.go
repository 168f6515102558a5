// An independent check of a published Candor audit log, with Go's own implementation of
// the formats (golang.org/x/mod/sumdb/note and sumdb/tlog, Debian's
// golang-golang-x-mod-dev): the checkpoint's signed note verifies with the verifier key,
// the hash tiles authenticate against its root (tlog.TileHashReader), every entry's leaf
// hash is the level-0 tile's, and inclusion proofs built from the tiles verify.
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go run c2sp_verify.go <log dir> <verifier key>
package main

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// Go's tile paths carry the height (tile/8/0/000, tile/8/data/000); C2SP's do not.
func c2spPath(t tlog.Tile) string {
	p := "tile/" + strings.TrimPrefix(t.Path(), "tile/8/")
	return strings.Replace(p, "tile/data/", "tile/entries/", 1)
}

type dirTiles struct{ dir string }

func (d dirTiles) Height() int { return 8 }

func (d dirTiles) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		b, err := os.ReadFile(filepath.Join(d.dir, c2spPath(t)))
		if err != nil {
			return nil, err
		}
		out[i] = b
	}
	return out, nil
}

func (d dirTiles) SaveTiles(tiles []tlog.Tile, data [][]byte) {}

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "FAIL "+format+"\n", args...)
	os.Exit(1)
}

func main() {
	if len(os.Args) != 3 {
		fail("usage: c2sp_verify <log dir> <verifier key>")
	}
	dir, vkey := os.Args[1], os.Args[2]
	msg, err := os.ReadFile(filepath.Join(dir, "checkpoint"))
	if err != nil {
		fail("%v", err)
	}
	verifier, err := note.NewVerifier(vkey)
	if err != nil {
		fail("verifier key: %v", err)
	}
	n, err := note.Open(msg, note.VerifierList(verifier))
	if err != nil {
		fail("checkpoint: %v", err)
	}
	lines := strings.Split(n.Text, "\n")
	if len(lines) < 4 || lines[0] != verifier.Name() {
		fail("checkpoint body: %q", n.Text)
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil {
		fail("size: %v", err)
	}
	rootBytes, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(rootBytes) != tlog.HashSize {
		fail("root: %q", lines[2])
	}
	var root tlog.Hash
	copy(root[:], rootBytes)
	reader := tlog.TileHashReader(tlog.Tree{N: size, Hash: root}, dirTiles{dir})
	got, err := tlog.TreeHash(size, reader)
	if err != nil || got != root {
		fail("tree hash from the tiles: %v %v", got, err)
	}
	checked := 0
	for start := int64(0); start < size; start += 256 {
		width := size - start
		if width > 256 {
			width = 256
		}
		t := tlog.Tile{H: 8, L: -1, N: start / 256, W: int(width)}
		data, err := dirTiles{dir}.ReadTiles([]tlog.Tile{t})
		if err != nil {
			fail("entries: %v", err)
		}
		rest := data[0]
		for i := start; i < start+width; i++ {
			if len(rest) < 2 {
				fail("entry bundle %s ends early", c2spPath(t))
			}
			l := int(binary.BigEndian.Uint16(rest))
			if len(rest) < 2+l {
				fail("entry bundle %s ends inside an entry", c2spPath(t))
			}
			leaf := tlog.RecordHash(rest[2 : 2+l])
			rest = rest[2+l:]
			proof, err := tlog.ProveRecord(size, i, reader)
			if err != nil {
				fail("proving leaf %d: %v", i, err)
			}
			if err := tlog.CheckRecord(proof, size, root, i, leaf); err != nil {
				fail("leaf %d is not in the signed tree: %v", i, err)
			}
			checked++
		}
	}
	fmt.Printf("ok %d records: checkpoint, tiles and every inclusion proof verify with Go's sumdb/note and sumdb/tlog\n", checked)
}
