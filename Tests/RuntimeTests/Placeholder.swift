import XCTest

final class RuntimePlaceholderTests: XCTestCase {}
