package winprog

import (
	"encoding/binary"
	"os"
	"strings"
	"testing"
	"unicode/utf16"
)

func utf16File(s string) []byte {
	b := []byte{0xff, 0xfe}
	for _, c := range utf16.Encode([]rune(s)) {
		b = binary.LittleEndian.AppendUint16(b, c)
	}
	return b
}

func TestParseReg(t *testing.T) {
	const text = "Windows Registry Editor Version 5.00\r\n\r\n" +
		"[HKEY_LOCAL_MACHINE\\SOFTWARE\\Acme\\Tool]\r\n" +
		"@=\"default\"\r\n" +
		"\"Path\"=\"C:\\\\Program Files\\\\Acme \\\"x\\\"\"\r\n" +
		"\"Count\"=dword:0000002a\r\n" +
		"\"Home\"=hex(2):25,00,41,00,\\\r\n  25,00,00,00\r\n" +
		"\"List\"=hex(7):61,00,00,00,62,00,00,00,00,00\r\n" +
		"\"Blob\"=hex:01,ff\r\n" +
		"\"Big\"=hex(b):01,00,00,00,00,00,00,00\r\n" +
		"\"Gone\"=\"x\"\r\n\"gone\"=-\r\n" +
		"\r\n[HKLM\\SOFTWARE\\WOW6432Node\\Acme\\Old]\r\n\"v\"=\"32\"\r\n" +
		"\r\n[HKEY_LOCAL_MACHINE\\SOFTWARE\\Acme\\Removed\\Deep]\r\n" +
		"[-HKEY_LOCAL_MACHINE\\SOFTWARE\\Acme\\Removed]\r\n"
	for name, b := range map[string][]byte{"utf-16": utf16File(text), "utf-8": []byte("\xef\xbb\xbf" + text)} {
		r, err := ParseReg(b)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		k, err := r.Key(LocalMachine, `software\acme\TOOL`, View64)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		str := func(n string) string { s, _ := k.Values[n].String(); return s }
		num := func(n string) uint64 { v, _ := k.Values[n].Uint(); return v }
		if str("") != "default" || str("path") != `C:\Program Files\Acme "x"` || num("count") != 42 || str("home") != "%A%" ||
			k.Values["list"].Type != TypeMultiSZ || string(k.Values["blob"].Data) != "\x01\xff" || num("big") != 1 {
			t.Errorf("%s: %+v", name, k.Values)
		}
		if _, ok := k.Values["gone"]; ok {
			t.Errorf("%s: deleted value still there", name)
		}
		subs, err := r.SubKeys(LocalMachine, `SOFTWARE\Acme`, View64)
		if err != nil || strings.Join(subs, ",") != "Tool" {
			t.Errorf("%s: subkeys %q %v", name, subs, err)
		}
		if subs, err := r.SubKeys(LocalMachine, `SOFTWARE\Acme`, View32); err != nil || strings.Join(subs, ",") != "Old" {
			t.Errorf("%s: 32-bit view %q %v", name, subs, err)
		}
	}
	// REGEDIT4: single-byte expandable strings.
	r, err := ParseReg([]byte("REGEDIT4\n\n[HKEY_USERS\\S-1]\n\"P\"=hex(2):41,42,00\n"))
	if err != nil {
		t.Fatal(err)
	}
	if k, _ := r.Key(Users, "S-1", View64); func() string { s, _ := k.Values["p"].String(); return s }() != "AB" {
		t.Errorf("REGEDIT4 hex(2): %+v", k.Values)
	}
	for _, bad := range []string{
		"", "REGEDIT5\n", "REGEDIT4\n\"a\"=\"b\"\n", "REGEDIT4\n[HKEY_NOWHERE\\x]\n", "REGEDIT4\n[HKLM\\x\n",
		"REGEDIT4\n[HKLM\\x]\n\"a\"=\"b\n", "REGEDIT4\n[HKLM\\x]\n\"a\"=dword:123456789\n", "REGEDIT4\n[HKLM\\x]\n\"a\"=hex:1,zz\n",
		"REGEDIT4\n[HKLM\\x]\n\"a\"=hex(q):00\n", "REGEDIT4\n[HKLM\\x]\nnot a value\n", "REGEDIT4\n[HKLM\\a\\\\b]\n",
		"\xff\xfeR", "REGEDIT4\n\xff\n",
	} {
		if _, err := ParseReg([]byte(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
	if _, err := ParseReg(make([]byte, MaxRegFile+1)); err == nil {
		t.Error("an over-long file read")
	}
}

// FuzzParseReg: any input parses or fails without panicking, and every subkey a parsed file
// lists can be read.
func FuzzParseReg(f *testing.F) {
	for _, name := range []string{"testdata/registry/uninstall64.reg", "testdata/registry/users.reg"} {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("REGEDIT4\n[HKLM\\a]\n\"x\"=hex(2):41,\\\n 00\n[-HKLM\\a]\n@=-\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseReg(b)
		if err != nil {
			return
		}
		for _, h := range []Hive{LocalMachine, Users} {
			walk(t, r, h, "", 0)
		}
	})
}

func walk(t *testing.T, r *RegFile, h Hive, path string, depth int) {
	if depth > 64 {
		return
	}
	subs, err := r.SubKeys(h, path, View64)
	if err != nil {
		return
	}
	for _, s := range subs {
		p := s
		if path != "" {
			p = path + `\` + s
		}
		k, err := r.Key(h, p, View64)
		if err != nil {
			t.Fatalf("%s listed but not read: %v", p, err)
		}
		for _, v := range k.Values {
			v.String()
			v.Uint()
		}
		walk(t, r, h, p, depth+1)
	}
}
