# METADATA
# title: Expectations of the generated tests
# description: |
#   Used by the generated per-policy tests (migrate/bundle/templates): a
#   failing expectation prints what was expected and what the engine gave,
#   so opa test (under the failed test) and the bundle tester name the
#   policy, its file:line, the example and expected versus actual. A
#   _test.rego module, so bundles served without tests leave it out.
package freightliner.testing

# METADATA
# title: expect
# description: expected == actual; otherwise false, after printing "what: field: expected ..., actual ...".
expect(what, field, expected, actual) if {
	expected == actual
} else := false if {
	print(sprintf("%s: %s: expected %v, actual %v", [what, field, expected, actual]))
}

# METADATA
# title: expect_subset
# description: object.subset(actual, expected); otherwise false, after printing the expected subset and the same keys of actual.
expect_subset(what, field, expected, actual) if {
	object.subset(actual, expected)
} else := false if {
	shown := object.filter(actual, object.keys(expected))
	print(sprintf("%s: %s: expected (subset) %v, actual %v", [what, field, expected, shown]))
}
