import XCTest

final class SurgeryPlaceholderTests: XCTestCase {}
