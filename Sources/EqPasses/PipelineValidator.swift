/// Checks that a pipeline's passes can run in their order, before any runs:
/// every fact a pass `requires` was provided by an earlier pass and not
/// invalidated since, and no pass invalidates a result that must still hold
/// at the end (a bias correction followed by a pass that changes weights or
/// activations would leave the correction wrong). `--variants`, `--config`
/// and `--search` all validate through it.
public enum PipelineValidator {
    /// Why `passes` cannot run in this order, or nil when they can.
    public static func problem(in passes: [any GraphPass]) -> String? {
        var holds = [PipelineFact: String]()        // fact → the pass that provided it
        var lost = [PipelineFact: String]()         // fact → the pass that invalidated it
        for pass in passes {
            for need in pass.requires.sorted(by: { $0.rawValue < $1.rawValue }) where holds[need] == nil {
                let since = lost[need].map { ", which \($0) invalidated" } ?? ""
                return "\(pass.name) needs \(need) from an earlier pass\(since)"
            }
            for fact in pass.invalidates.sorted(by: { $0.rawValue < $1.rawValue }) {
                guard let provider = holds[fact] else { continue }
                if fact.mustSurvive {
                    return "\(pass.name) after \(provider) would leave \(fact) wrong: \(provider) must come after every pass that changes weights or activations"
                }
                holds[fact] = nil
                lost[fact] = pass.name
            }
            for fact in pass.provides { holds[fact] = pass.name }
        }
        return nil
    }

    /// Throws a `PassError` naming `context` when the passes cannot run in this order.
    public static func validate(_ passes: [any GraphPass], context: String) throws {
        if let problem = problem(in: passes) { throw PassError("\(context): \(problem)") }
    }
}
