package protocol

// The orderings of the language package managers' formats that are semantic versions.
func init() {
	// Semantic versions: CompareSegments until the SemVer 2.0 ordering is registered here.
	versionOrders["cargo"] = CompareSegments
	versionOrders["go"] = CompareSegments // Go module versions, pseudo-versions included
}
