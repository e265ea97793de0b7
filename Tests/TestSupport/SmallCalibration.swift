import Runtime
import Surgery

extension Fixtures {
    /// Three 24-token windows of token ids spread over a model's vocabulary (offsets 0, 5, 9): a
    /// calibration small enough for every fixture, the same in every curvature test that uses it.
    public static func smallCalibration(_ model: CausalLM) throws -> Calibration {
        let V = model.config.vocabSize
        let windows: [[Int32]] = [0, 5, 9].map { s in (0..<24).map { Int32((s + 7 * $0) % V) } }
        return try Calibration(windows: windows, offsets: [0, 5, 9])
    }
}
