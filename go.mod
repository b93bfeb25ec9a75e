module github.com/onus-project/onus

go 1.26.0

require (
	github.com/knqyf263/go-rpmdb v0.1.1 // indirect
	github.com/prometheus/client_golang v1.25.0 // indirect
	github.com/shirou/gopsutil/v3 v3.24.5 // indirect
)
