import XCTest

final class ToolkitPlaceholderTests: XCTestCase {}
