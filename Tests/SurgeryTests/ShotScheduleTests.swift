import Foundation
import XCTest
@testable import Surgery

/// The adaptive schedule's rule (`AdaptiveSchedule`) against its formula, and the default recipe.
final class ShotScheduleTests: XCTestCase {
    let rule = AdaptiveSchedule(firstStep: 0.025, minStep: 0.003125, maxStep: 0.05, growth: 1.5, minRate: 4, rateFactor: 3)

    func testBoundIsTheSteeperOfTheFloorAndThreeTimesTheAverageRate() {
        // first shot: the floor, 4 nats per unit of sparsity
        XCTAssertEqual(rule.bound(step: 0.025, from: 0, loss: 3.5, denseLoss: 3.5), 0.1, accuracy: 1e-12)
        // a gentle history keeps the floor: 0.05 nat over 5% is 1 nat/unit, ×3 = 3 < 4
        XCTAssertEqual(rule.bound(step: 0.025, from: 0.05, loss: 3.55, denseLoss: 3.5), 0.1, accuracy: 1e-12)
        // a steep one raises it: 0.5 nat over 10% is 5 nats/unit, ×3 = 15
        XCTAssertEqual(rule.bound(step: 0.04, from: 0.1, loss: 4.0, denseLoss: 3.5), 0.6, accuracy: 1e-12)
        // a loss below the dense one counts as no rise
        XCTAssertEqual(rule.bound(step: 0.025, from: 0.1, loss: 3.4, denseLoss: 3.5), 0.1, accuracy: 1e-12)
    }

    /// The element default also allows 3x the last accepted step's rate: the first unstructured draw
    /// (docs/results.md) rose 0.0021, 0.0140, 0.0719, 0.1178 nats over its 10% steps to 40%, then
    /// 0.2034 from 40% to 50% — over the average-rate bound (0.2) but within 3 × 1.178 nats/unit.
    func testElementBoundFollowsTheLastStepsRate() throws {
        let el = DefaultSchedule.adaptive(.unstructured)
        XCTAssertEqual(el.stepRateFactor, 3)
        XCTAssertNil(DefaultSchedule.adaptive(.rowsColumns).stepRateFactor, "rows-columns keeps the measured average-rate rule")
        let dense = 3.2332
        let rises = [0.0021, 0.0140, 0.0719, 0.1178]
        var attempts: [ScheduleAttempt] = []
        var loss = dense
        for (i, r) in rises.enumerated() {
            attempts.append(ScheduleAttempt(attempt: i + 1, from: 0.1 * Double(i), to: 0.1 * Double(i + 1), lossBefore: loss,
                                            lossAfter: loss + r, bound: 0.2, verdict: .accepted, freshCurvature: true, seconds: 1))
            loss += r
        }
        // a rejected attempt after the last accepted one does not count
        attempts.append(ScheduleAttempt(attempt: 5, from: 0.4, to: 0.5, lossBefore: loss, lossAfter: loss + 9,
                                        bound: 0.1, verdict: .rejected, freshCurvature: true, seconds: 1))
        let last = try XCTUnwrap(AdaptiveSchedule.lastRate(attempts))
        XCTAssertEqual(last, 1.178, accuracy: 1e-9)
        let b = el.bound(step: 0.1, from: 0.4, loss: loss, denseLoss: dense, lastRate: last)
        XCTAssertEqual(b, 0.1 * 3 * 1.178, accuracy: 1e-9)
        XCTAssertLessThan(0.2034, b, "the steepening step is accepted")
        XCTAssertEqual(el.bound(step: 0.1, from: 0.4, loss: loss, denseLoss: dense), 0.2, accuracy: 1e-9, "without it: the floor")
        XCTAssertLessThan(b, 1.0, "a wreck (several nats) is still refused")
        // the rows-columns rule ignores the last rate
        XCTAssertEqual(rule.bound(step: 0.025, from: 0.05, loss: 3.55, denseLoss: 3.5, lastRate: 100), 0.1, accuracy: 1e-12)
        XCTAssertNil(AdaptiveSchedule.lastRate([]))
        let back = try JSONDecoder().decode(AdaptiveSchedule.self, from: JSONEncoder().encode(el))
        XCTAssertEqual(back, el, "recorded as step_rate_factor")
        XCTAssertTrue(String(decoding: try JSONEncoder().encode(el), as: UTF8.self).contains("\"step_rate_factor\":3"))
        var bad = el
        bad.stepRateFactor = 0.5
        XCTAssertThrowsError(try bad.validate()) { XCTAssertTrue("\($0)".contains("step_rate_factor"), "\($0)") }
    }

    func testStepsHalveToTheSmallestAndGrowAfterGoodShots() {
        XCTAssertEqual(rule.stepAfterRejecting(step: 0.025), 0.0125)
        XCTAssertEqual(rule.stepAfterRejecting(step: 0.005), 0.003125, "never below the smallest step")
        XCTAssertNil(rule.stepAfterRejecting(step: 0.003125), "no retry below the smallest step")
        XCTAssertEqual(rule.stepAfterAccepting(step: 0.025, rise: 0.05, bound: 0.1), 0.0375, accuracy: 1e-12)
        XCTAssertEqual(rule.stepAfterAccepting(step: 0.025, rise: 0.06, bound: 0.1), 0.025, "over half the bound: kept")
        XCTAssertEqual(rule.stepAfterAccepting(step: 0.04, rise: 0, bound: 0.1), 0.05, "capped at the largest step")
    }

    /// No shot crosses a multiple of the grid; grid points are the doubles of their decimals, and a
    /// sliver of less than half the step (or of the smallest step) before a stop joins the shot.
    func testShotsLandOnTheGrid() throws {
        var g = rule
        g.grid = 0.1
        XCTAssertEqual(g.nextStop(from: 0, target: 0.3), 0.1)
        XCTAssertEqual(g.nextStop(from: 0.1, target: 0.5), 0.2)
        XCTAssertEqual(g.nextStop(from: 0.2, target: 0.5), 0.3, "0.3 as the literal, not 3 x 0.1")
        XCTAssertEqual(g.nextStop(from: 0.25, target: 0.28), 0.28, "the target before the next grid point")
        XCTAssertEqual(g.nextStop(from: 0.2, target: 0.3), 0.3)
        XCTAssertEqual(g.shotEnd(from: 0.0875, step: 0.05, target: 0.3), 0.1, "clipped at the grid point")
        XCTAssertEqual(g.shotEnd(from: 0.06, step: 0.039, target: 0.3), 0.1, "a sliver of 0.1% joins the shot")
        XCTAssertEqual(g.shotEnd(from: 0.04, step: 0.03, target: 0.3), 0.07, accuracy: 1e-15)
        // less than half the step left before the stop: the shot takes it, within the largest step
        XCTAssertEqual(g.shotEnd(from: 0.059375, step: 0.028125, target: 0.3), 0.1, "5.94% -> 10%, not 8.75% then 10%")
        XCTAssertEqual(g.shotEnd(from: 0.0625, step: 0.0375, target: 0.3), 0.1)
        XCTAssertEqual(g.shotEnd(from: 0.04, step: 0.05, target: 0.3), 0.09, accuracy: 1e-15, "6% to the stop > the largest step (5%)")
        XCTAssertEqual(g.shotEnd(from: 0.05, step: 0.02, target: 0.3), 0.07, accuracy: 1e-15, "3% left = more than half the step")
        XCTAssertEqual(rule.shotEnd(from: 0.0875, step: 0.05, target: 0.3), 0.1375, accuracy: 1e-15, "no grid: no stop")
        g.grid = 0.3
        XCTAssertThrowsError(try g.validate()) { XCTAssertTrue("\($0)".contains("grid"), "\($0)") }
        let old = #"{"first_step":0.025,"min_step":0.003125,"max_step":0.05,"growth":1.5,"min_rate":4,"rate_factor":3}"#
        XCTAssertNil(try JSONDecoder().decode(AdaptiveSchedule.self, from: Data(old.utf8)).grid, "files of before the grid have none")
    }

    /// Each curvature estimate reads the next block of windows, wrapping around.
    func testRotationTakesConsecutiveBlocksOfWindows() throws {
        let windows: [[Int32]] = (0..<5).map { [Int32($0), 7] }
        var cal = try Calibration(windows: windows, offsets: [10, 11, 12, 13, 14], seed: 3, source: "s")
        cal.heldOut = [[9, 9]]
        func firsts(_ k: Int, _ n: Int) throws -> [Int32] { try cal.rotation(k, count: n).windows.map { $0[0] } }
        XCTAssertEqual(try firsts(0, 2), [0, 1])
        XCTAssertEqual(try firsts(1, 2), [2, 3])
        XCTAssertEqual(try firsts(2, 2), [4, 0])
        XCTAssertEqual(try firsts(7, 2), [4, 0], "k·count modulo N")
        XCTAssertEqual(try firsts(1, 5), [0, 1, 2, 3, 4], "every window when count ≥ N")
        XCTAssertEqual(try cal.rotation(1, count: 2).offsets, [12, 13])
        XCTAssertEqual(try cal.rotation(1, count: 2).heldOut, cal.heldOut, "the held-out windows stay")
    }

    func testInvalidParametersAreRefusedNamingTheField() {
        var bad = rule
        bad.minStep = 0.1   // above the first step
        XCTAssertThrowsError(try bad.validate()) { XCTAssertTrue("\($0)".contains("min_step"), "\($0)") }
        bad = rule
        bad.growth = 0.5
        XCTAssertThrowsError(try bad.validate())
        var recipe = CompressionRecipe(method: .surgeon, structure: .rowsColumns, targetSparsity: 0.1, shots: 4, dampG: 0.01, dampA: 0.01,
                                       schedule: .adaptive, adaptive: rule, heldOut: 0)
        XCTAssertThrowsError(try recipe.validate()) {
            guard case SurgeryError.invalidRecipe(let field, _)? = $0 as? SurgeryError else { return XCTFail("\($0)") }
            XCTAssertEqual(field, .heldOut)
        }
        recipe.heldOut = 4
        XCTAssertNoThrow(try recipe.validate())
        recipe.schedule = .linear
        XCTAssertThrowsError(try recipe.validate(), "adaptive parameters on a linear schedule")
    }

    func testDefaultRecipe() {
        XCTAssertEqual(DefaultSchedule.shots(.rowsColumns, target: 0.1), 4)
        XCTAssertEqual(DefaultSchedule.shots(.rowsColumns, target: 0.3), 12)
        XCTAssertEqual(DefaultSchedule.shots(.unstructured, target: 0.5), 5)
        XCTAssertEqual(DefaultSchedule.schedule(.surgeon), .adaptive)
        XCTAssertEqual(DefaultSchedule.schedule(.sparsegpt), .linear)
        XCTAssertEqual(DefaultSchedule.schedule(.kobd), .linear)
        XCTAssertNoThrow(try DefaultSchedule.adaptive(.rowsColumns).validate())
        XCTAssertNoThrow(try DefaultSchedule.adaptive(.twoFour).validate())
    }

    /// Older files have no schedule fields: they read as linear, and resuming compares the schedule.
    func testRecipesWithoutScheduleReadAsLinear() throws {
        let old = #"{"method":"surgeon","structure":"rows-columns","target_sparsity":0.1,"shots":2,"damp_g":0.01,"damp_a":0.01,"updates":"joint","fisher":"empirical"}"#
        let r = try JSONDecoder().decode(CompressionRecipe.self, from: Data(old.utf8))
        XCTAssertEqual(r.shotSchedule, .linear)
        XCTAssertFalse(r.isAdaptive)
        var now = r
        now.schedule = .adaptive
        now.adaptive = rule
        now.heldOut = 4
        XCTAssertEqual(Set(now.differences(from: r).map(\.key)), ["schedule", "adaptive", "held_out"])
    }
}
