// swift-tools-version:6.0
import PackageDescription

// Release builds of the numeric targets only (Runtime's kernels, Surgery's factor, cost and update
// loops): bounds checks off there, after the debug builds and tests have run with them on.
// Tokenize, Toolkit and the CLI parse untrusted input and keep every check.
let fast: [SwiftSetting] = [.unsafeFlags(["-Ounchecked", "-wmo"], .when(configuration: .release))]

let package = Package(
    name: "surgeon",
    products: [
        .executable(name: "surgeon", targets: ["surgeon"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        .systemLibrary(name: "CBLAS", path: "Sources/CBLAS"),
        // Open MPI through dlopen (only under mpirun): no link dependency (docs/architecture.md)
        .systemLibrary(name: "CMPI", path: "Sources/CMPI"),
        .target(
            name: "CSentencePiece",
            path: "Sources/CSentencePiece",
            cxxSettings: [.unsafeFlags(["-std=c++17"])],
            linkerSettings: [.linkedLibrary("sentencepiece"), .linkedLibrary("stdc++")]
        ),
        .target(name: "Tokenize", dependencies: ["CSentencePiece"]),
        .target(name: "Runtime", dependencies: ["CBLAS", "CMPI"], swiftSettings: fast),
        .target(name: "Surgery", dependencies: ["Runtime", "CBLAS"], swiftSettings: fast),
        // What the CLI does besides parsing flags: model + tokenizer opening, chat sessions, reports.
        .target(name: "Toolkit", dependencies: ["Runtime", "Surgery", "Tokenize"]),
        .executableTarget(
            name: "surgeon",
            dependencies: [
                "Runtime", "Surgery", "Tokenize", "Toolkit",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // What the test targets share: fixture paths, NaN-safe comparisons, the explicit OBS oracle.
        .target(name: "TestSupport", dependencies: ["Runtime", "Surgery"], path: "Tests/TestSupport"),
        .testTarget(name: "RuntimeTests", dependencies: ["Runtime", "TestSupport"], exclude: ["Resources"]),
        .testTarget(name: "TokenizeTests", dependencies: ["Tokenize", "TestSupport"]),
        .testTarget(name: "SurgeryTests", dependencies: ["Surgery", "Runtime", "TestSupport"]),
        .testTarget(name: "ToolkitTests", dependencies: ["Toolkit", "Runtime", "Tokenize", "TestSupport"]),
        .testTarget(name: "SurgeonTests", dependencies: ["surgeon", "Toolkit", "Runtime", "TestSupport",
                                                       .product(name: "ArgumentParser", package: "swift-argument-parser")]),
    ],
    swiftLanguageModes: [.v6]
)

// Fuzz targets (Fuzz/, libFuzzer + AddressSanitizer): declared only when scripts/fuzz.sh sets
// SURGEON_FUZZ, so the normal build and `swift build --build-tests` never see libFuzzer entry points.
if Context.environment["SURGEON_FUZZ"] != nil {
    package.targets.append(.target(name: "CFuzzer", path: "Fuzz/CFuzzer"))
    package.targets.append(.target(name: "FuzzSupport", dependencies: ["CFuzzer", "Runtime", "Surgery", "Tokenize", "Toolkit", "TestSupport"],
                                   path: "Fuzz/FuzzSupport"))
    for name in ["safetensors", "gguf", "config", "tokenizer-json", "bpe-files", "sentencepiece", "storage", "checkpoint"] {
        package.targets.append(.executableTarget(
            name: "fuzz-\(name)", dependencies: ["FuzzSupport", "TestSupport", "Runtime", "Surgery", "Tokenize", "Toolkit"],
            path: "Fuzz/\(name)"))
    }
}
