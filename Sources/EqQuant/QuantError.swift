/// A quantization problem, naming the tensor or setting it concerns.
public struct QuantError: Error, Equatable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
