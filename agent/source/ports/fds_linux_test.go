package ports

import "testing"

func TestSocketInode(t *testing.T) {
	tests := []struct {
		in   string
		want uint64
		ok   bool
	}{
		{"socket:[18304]", 18304, true},
		{"socket:[]", 0, false},
		{"pipe:[18304]", 0, false},
		{"socket:[12a]", 0, false},
		{"socket:[99999999999999999999999]", 0, false},
		{"/dev/null", 0, false},
	}
	for _, tt := range tests {
		got, ok := socketInode([]byte(tt.in))
		if got != tt.want || ok != tt.ok {
			t.Errorf("socketInode(%q) = %d, %v; want %d, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}
