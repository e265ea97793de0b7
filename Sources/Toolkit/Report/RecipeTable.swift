import Foundation
import Surgery

/// Section 5: the recipe of each output as an HTML table (method, structure, target and actual
/// sparsity, shots, calibration, damping, Fisher labels, updates, low-rank, seed).
enum RecipeTable {
    static let columns = ["output", "method", "structure", "target", "actual", "shots", "calibration", "damp G / A",
                          "Fisher", "updates", "low-rank", "seed", "source"]

    static func row(_ o: ReportedOutput) -> [String] {
        let r = o.compression.recipe
        let calib = r.calibration.map { c in
            "\((c.file as NSString).lastPathComponent), \(c.nsamples) × \(c.seqlen) tokens"
        } ?? "none"
        let lowrank = r.lowrank.map { "rank \($0.rank), \($0.layers.rawValue)" } ?? "off"
        let seed = r.calibration?.seed.map(String.init) ?? "—"
        let fisher: String
        switch r.fisher {
        case .empirical: fisher = "empirical"
        case .sampled(let k, let s): fisher = "sampled, k=\(k), seed \(s)"
        }
        return [o.name, r.method.rawValue, r.structure.rawValue, String(format: "%.2f%%", 100 * r.targetSparsity),
                String(format: "%.2f%%", 100 * o.compression.actualSparsity), "\(r.shots)", calib,
                "\(Scale.label(r.dampG)) / \(Scale.label(r.dampA))", fisher, r.updates.rawValue, lowrank, seed,
                o.compression.source]
    }

    static func html(_ outputs: [ReportedOutput]) -> String {
        var s = "<table class=\"recipe\">\n<tr>" + columns.map { "<th>\(xmlEscaped($0))</th>" }.joined() + "</tr>\n"
        for o in outputs { s += "<tr>" + row(o).map { "<td>\(xmlEscaped($0))</td>" }.joined() + "</tr>\n" }
        return s + "</table>\n"
    }
}
