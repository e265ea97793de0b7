/// Forward kernels of the inference path (or their vectorized twins) run on row chunks split over the workers (the training
/// passes call them on whole windows, where a serial loop would leave the other cores idle).

/// `rmsNormForward` over row chunks.  x, y: [T, C]; w: [C]; rstd: [T]
func rmsNormRows(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ w: [Float], T: Int, C: Int, eps: Float,
                 rstd: UnsafeMutablePointer<Float>? = nil) {
    w.withUnsafeBufferPointer { wb in
        let wp = wb.baseAddress!
        Parallel.chunks(T, minChunk: max(16, (1 << 14) / max(C, 1))) { r in
            rmsNormForward(x + r.lowerBound * C, y + r.lowerBound * C, wp, T: r.count, C: C, eps: eps,
                           rstd: rstd.map { $0 + r.lowerBound })
        }
    }
}

/// `layerNormForward` (optional affine) over row chunks.  x, y: [T, C]; w, b: [C]; mean, rstd: [T]
func layerNormRows(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ w: [Float]?, _ b: [Float]?,
                   T: Int, C: Int, eps: Float, mean: UnsafeMutablePointer<Float>?, rstd: UnsafeMutablePointer<Float>?) {
    optionalPointer(w) { wp in
        optionalPointer(b) { bp in
            Parallel.chunks(T, minChunk: max(16, (1 << 14) / max(C, 1))) { r in
                layerNormForward(x + r.lowerBound * C, y + r.lowerBound * C, wp, bp, T: r.count, C: C, eps: eps,
                                 mean: mean.map { $0 + r.lowerBound }, rstd: rstd.map { $0 + r.lowerBound })
            }
        }
    }
}

/// h = silu(g)·u (as `siluGateForward`, eight lanes at a time) over chunks, g kept.  g, u, h: [n]
func siluGateRows(_ g: UnsafePointer<Float>, _ u: UnsafePointer<Float>, into h: UnsafeMutablePointer<Float>, _ n: Int) {
    Parallel.chunks(n, align: 64, minChunk: 1 << 14) { r in
        vectorSiluGate(g + r.lowerBound, u + r.lowerBound, h + r.lowerBound, r.count)
    }
}

/// relu or gelu of z into h over chunks, z kept.  z, h: [n]
func activationRows(_ z: UnsafePointer<Float>, into h: UnsafeMutablePointer<Float>, _ n: Int, gelu: Bool) {
    Parallel.chunks(n, align: 64, minChunk: 1 << 14) { r in
        (h + r.lowerBound).update(from: z + r.lowerBound, count: r.count)
        if gelu { geluForward(h + r.lowerBound, r.count) } else { reluForward(h + r.lowerBound, r.count) }
    }
}

/// Calls body with the array's base address, or with nil for a nil array.
func optionalPointer<R>(_ a: [Float]?, _ body: (UnsafePointer<Float>?) -> R) -> R {
    guard let a else { return body(nil) }
    return a.withUnsafeBufferPointer { body($0.baseAddress) }
}
