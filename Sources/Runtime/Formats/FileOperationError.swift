import Foundation

/// A file-system operation that failed: the operation (read or write), the path, and the system's
/// reason (its errno, or a detail where there is none). The CLI words it with the flag that gave
/// the path; below the CLI it speaks of the path only.
public struct FileOperationError: Error, CustomStringConvertible, Equatable {
    public enum Operation: String, Sendable {
        case read, write
    }

    public let operation: Operation
    public let path: String
    /// The errno of the failure (0 when the system gave none; then `detail` says what happened).
    public let code: Int32
    public let detail: String?

    public init(_ operation: Operation, path: String, code: Int32, detail: String? = nil) {
        self.operation = operation
        self.path = path
        self.code = code
        self.detail = detail
    }

    /// From an error Foundation threw while doing `operation` on `path` (its errno when it has one).
    public init(_ operation: Operation, path: String, error: any Error) {
        if let f = FileOperationError(foundation: error) {
            self.init(operation, path: path, code: f.code, detail: f.detail)
        } else {
            self.init(operation, path: path, code: 0, detail: "\(error)")
        }
    }

    /// The file error inside an error Foundation threw (`CocoaError` with a file code, `POSIXError`,
    /// or the `NSError` of either): its operation, path (when the error names one) and errno.
    /// nil for any other error.
    public init?(foundation error: any Error) {
        if let e = error as? FileOperationError {
            self = e
            return
        }
        // a bare errno names no file and no operation: a full or read-only disk is met writing
        if let p = error as? POSIXError {
            self.init(Self.writeErrnos.contains(p.code.rawValue) ? .write : .read, path: "", code: p.code.rawValue)
            return
        }
        let ns = error as NSError
        if ns.domain == NSPOSIXErrorDomain {
            let code = Int32(truncatingIfNeeded: ns.code)
            self.init(Self.writeErrnos.contains(code) ? .write : .read, path: "", code: code)
            return
        }
        guard ns.domain == NSCocoaErrorDomain, let operation = Self.operation(cocoaCode: ns.code) else { return nil }
        let path = ns.userInfo[NSFilePathErrorKey] as? String
            ?? (ns.userInfo[NSURLErrorKey] as? URL)?.path ?? ""
        var code = Self.errno(cocoaCode: ns.code)
        if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
            code = Int32(truncatingIfNeeded: underlying.code)
        } else if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? POSIXError {
            code = underlying.code.rawValue
        }
        self.init(operation, path: path, code: code, detail: code == 0 ? "error \(ns.code)" : nil)
    }

    private static let writeErrnos: Set<Int32> = [ENOSPC, EDQUOT, EROFS, EFBIG]

    /// CocoaError file codes: 4 and 256..<512 are reading, 512..<1024 writing.
    private static func operation(cocoaCode: Int) -> Operation? {
        switch cocoaCode {
        case 4, 256..<512: return .read
        case 512..<1024: return .write
        default: return nil
        }
    }

    /// The errno a CocoaError file code stands for, where it names one.
    private static func errno(cocoaCode: Int) -> Int32 {
        switch cocoaCode {
        case 4, 260: return ENOENT               // fileNoSuchFile, fileReadNoSuchFile
        case 257, 513: return EACCES             // fileReadNoPermission, fileWriteNoPermission
        case 263: return EFBIG                   // fileReadTooLarge
        case 516: return EEXIST                  // fileWriteFileExists
        case 640: return ENOSPC                  // fileWriteOutOfSpace
        case 642: return EROFS                   // fileWriteVolumeReadOnly
        default: return 0
        }
    }

    /// The system's reason in lower case ("no space left on device"), or the detail.
    public var reason: String {
        if code != 0 {
            let s = String(cString: strerror(code))
            return s.prefix(1).lowercased() + s.dropFirst()
        }
        return detail ?? "unknown error"
    }

    /// Whether the failure is a full disk (or quota).
    public var isDiskFull: Bool { code == ENOSPC || code == EDQUOT }

    public var description: String {
        "cannot \(operation.rawValue) \(path): \(reason)"
    }
}

/// The contents of the file at `path`; a failure is a `FileOperationError` naming the path.
public func readFileContents(_ path: String) throws -> Data {
    do {
        return try Data(contentsOf: URL(fileURLWithPath: path))
    } catch {
        throw FileOperationError(.read, path: path, error: error)
    }
}
