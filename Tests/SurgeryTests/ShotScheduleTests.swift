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

    func testStepsHalveToTheSmallestAndGrowAfterGoodShots() {
        XCTAssertEqual(rule.stepAfterRejecting(step: 0.025), 0.0125)
        XCTAssertEqual(rule.stepAfterRejecting(step: 0.005), 0.003125, "never below the smallest step")
        XCTAssertNil(rule.stepAfterRejecting(step: 0.003125), "no retry below the smallest step")
        XCTAssertEqual(rule.stepAfterAccepting(step: 0.025, rise: 0.05, bound: 0.1), 0.0375, accuracy: 1e-12)
        XCTAssertEqual(rule.stepAfterAccepting(step: 0.025, rise: 0.06, bound: 0.1), 0.025, "over half the bound: kept")
        XCTAssertEqual(rule.stepAfterAccepting(step: 0.04, rise: 0, bound: 0.1), 0.05, "capped at the largest step")
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
