import ArgumentParser
import EqHarness

/// How images are fed to the models (`--mean`, `--std`, `--resize`,
/// `--crop`): the same flags, checks and meaning for `run` and `export`, so
/// an export is preprocessed exactly as the run that measured it.
struct InputOptions: ParsableArguments {
    @Option(parsing: .unconditional, help: "Input mean, one value or one per channel (overrides the model's sidecar JSON).")
    var mean: String?

    @Option(parsing: .unconditional, help: "Input std, one value or one per channel (overrides the model's sidecar JSON).")
    var std: String?

    @Option(parsing: .unconditional, help: "Resize each image's shorter side to N pixels, then center-crop to the model's input (torchvision's Resize(N) + CenterCrop; overrides the sidecar's \"resize\"). Default: resize straight to the input size.")
    var resize: Int?

    @Option(parsing: .unconditional, help: "The center crop after --resize, in pixels; must equal the model's input size (a check).")
    var crop: Int?

    func validate() throws {
        if let resize, !(1...32768).contains(resize) { throw ValidationError("--resize must be from 1 to 32768 pixels, got \(resize)") }
        if let crop, !(1...32768).contains(crop) { throw ValidationError("--crop must be from 1 to 32768 pixels, got \(crop)") }
        if let mean { _ = try parseFloats(mean, flag: "--mean") }
        if let std { _ = try parseFloats(std, flag: "--std") }
    }

    /// Sets the run's preprocessing overrides.
    func apply(to settings: inout RunSettings) throws {
        settings.mean = try mean.map { try parseFloats($0, flag: "--mean") }
        settings.std = try std.map { try parseFloats($0, flag: "--std") }
        settings.resize = resize
        settings.crop = crop
    }
}
