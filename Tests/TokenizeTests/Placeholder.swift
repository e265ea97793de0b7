import XCTest

final class TokenizePlaceholderTests: XCTestCase {}
