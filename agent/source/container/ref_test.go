package container

import "testing"

// TestParseRef: references normalized as docker's reference.ParseNormalizedNamed does, and
// what is not a reference refused.
func TestParseRef(t *testing.T) {
	const d = "sha256:0c86dddac19f2ce4fd716ac58c0fd87bf69bfd4edabfd6971fb885bafd12a00b"
	for _, tt := range []struct{ in, want string }{
		{"nginx", "docker.io/library/nginx"},
		{"nginx:1.25", "docker.io/library/nginx:1.25"},
		{"library/nginx:latest", "docker.io/library/nginx:latest"},
		{"docker.io/nginx", "docker.io/library/nginx"},
		{"index.docker.io/library/nginx:1", "docker.io/library/nginx:1"},
		{"acme/web:1.2", "docker.io/acme/web:1.2"},
		{"quay.io/acme/tool@" + d, "quay.io/acme/tool@" + d},
		{"nginx:1.25@" + d, "docker.io/library/nginx:1.25@" + d},
		{"localhost/tools:dev", "localhost/tools:dev"},
		{"localhost:5000/tools", "localhost:5000/tools"},
		{"registry.example.com:5000/team/job:2024.06", "registry.example.com:5000/team/job:2024.06"},
		{"[::1]:5000/x:y", "[::1]:5000/x:y"},
		{"Registry.Example.com/a", "Registry.Example.com/a"},
		{"a__b/c-d/e.f:T_a.g-", "docker.io/a__b/c-d/e.f:T_a.g-"},
		{"", ""},
		{"<none>:<none>", ""},
		{"<none>@<none>", ""},
		{d, ""},
		{"Nginx", ""},
		{"nginx:", ""},
		{"nginx:.x", ""},
		{"nginx:-x", ""},
		{"nginx@sha256:abc", ""},
		{"nginx@md5:" + d[7:], ""},
		{"nginx@", ""},
		{"/nginx", ""},
		{"nginx/", ""},
		{"a//b", ""},
		{"-a/b", ""},
		{"a/b-", ""},
		{"a b", ""},
		{"a..b", ""},
		{"a___b", ""},
		{"a_-b", ""},
		{"a---b.c__d", "docker.io/library/a---b.c__d"},
		{"ho\x00st.io/x", ""},
		{"nginx:" + string(make([]byte, 129)), ""},
	} {
		r, ok := parseRef(tt.in)
		if got := r.String(); ok != (tt.want != "") || ok && got != tt.want {
			t.Errorf("parseRef(%q) = %q, %v; want %q", tt.in, got, ok, tt.want)
		}
	}
}

// TestParseRefLength: a name the normalization lengthens past a package name's limit is
// refused, not reported for the collector to cut.
func TestParseRefLength(t *testing.T) {
	long := make([]byte, 250)
	for i := range long {
		long[i] = 'a'
	}
	if r, ok := parseRef(string(long)); ok {
		t.Errorf("parseRef(250 a's) = %q (%d bytes)", r.String(), len(r.String()))
	}
	if r, ok := parseRef("x.io/" + string(long[:200])); !ok || r.repo != "x.io/"+string(long[:200]) {
		t.Errorf("parseRef(x.io/200 a's) = %q, %v", r.String(), ok)
	}
}

func TestImageID(t *testing.T) {
	const h = "251ad31786bae2bdf8f9435a21b808b3ddba91ac4bf8d995c416368ed5881c7a"
	for in, want := range map[string]string{h: "sha256:" + h, "sha256:" + h: "sha256:" + h, "": "", "sha256:": "",
		h[:63]: "", h + "0": "", "sha512:" + h: "", "SHA256:" + h: ""} {
		if got, ok := imageID(in); got != want || ok != (want != "") {
			t.Errorf("imageID(%q) = %q, %v", in, got, ok)
		}
	}
	if shortID("sha256:"+h) != "251ad31786ba" || shortID("abc") != "abc" {
		t.Error("shortID")
	}
}
