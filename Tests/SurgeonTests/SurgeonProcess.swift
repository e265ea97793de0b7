import Foundation
import XCTest
import TestSupport

/// The built `surgeon` binary (.build/debug/surgeon, built with the tests) run as a user runs it:
/// arguments, standard input, and its standard output and error captured in files (no pipe can fill up).
final class SurgeonProcess {
    static let binary = Fixtures.root.appendingPathComponent(".build/debug/surgeon").path

    let process = Process()
    private let input = Pipe()
    private let outPath: String
    private let errPath: String

    init(_ arguments: [String]) throws {
        let dir = Fixtures.tempDir()
        outPath = dir + "/stdout"
        errPath = dir + "/stderr"
        guard FileManager.default.createFile(atPath: outPath, contents: nil),
              FileManager.default.createFile(atPath: errPath, contents: nil) else {
            throw FixtureError.unexpectedContent(dir, "a writable temporary directory")
        }
        process.executableURL = URL(fileURLWithPath: Self.binary)
        process.arguments = arguments
        process.standardInput = input
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: outPath))
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
        try process.run()
    }

    /// Runs to the end with `stdin` as standard input.
    static func run(_ arguments: [String], stdin: String = "", timeout: Double = 120) throws -> SurgeonProcess {
        let p = try SurgeonProcess(arguments)
        try p.send(stdin)
        try p.closeInput()
        try p.wait(timeout: timeout)
        return p
    }

    func send(_ text: String) throws {
        try input.fileHandleForWriting.write(contentsOf: Data(text.utf8))
    }

    func closeInput() throws {
        try input.fileHandleForWriting.close()
    }

    var stdout: String { (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? "" }
    var stderr: String { (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? "" }
    /// Exit status, or the signal number when a signal ended it.
    var status: Int32 { process.terminationStatus }
    var exitedNormally: Bool { process.terminationReason == .exit }

    /// Waits until `condition` holds (checked every 10 ms); false after `timeout` seconds.
    @discardableResult
    func waitFor(timeout: Double, _ condition: () -> Bool) -> Bool {
        let end = Date().addingTimeInterval(timeout)
        while !condition() {
            if Date() > end { return false }
            usleep(10_000)
        }
        return true
    }

    /// Waits for the process to end; kills it and fails after `timeout` seconds.
    func wait(timeout: Double, file: StaticString = #filePath, line: UInt = #line) throws {
        if !waitFor(timeout: timeout, { !process.isRunning }) {
            process.terminate()
            process.waitUntilExit()
            XCTFail("surgeon \(process.arguments ?? []) did not end within \(timeout) s; stderr: \(stderr)", file: file, line: line)
        }
        process.waitUntilExit()
    }
}
