/// A problem with the run's settings or inputs, phrased for the command line.
public struct HarnessError: Error, Equatable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
