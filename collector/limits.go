package main

import "github.com/onus-project/onus/internal/protocol"

func protocolLimits(compressed, decoded int64) protocol.Limits {
	l := protocol.DefaultLimits
	if compressed > 0 {
		l.Compressed = compressed
	}
	if decoded > 0 {
		l.Decompressed = decoded
	}
	return l
}
