namespace Celeriac;

/// <summary>
/// Marks a method of a <see cref="WebSocketConsumer"/> as the handler of group messages whose <c>type</c> is
/// <see cref="Type"/>. The method takes one <see cref="GroupMessage"/> and returns <see cref="Task"/>,
/// <see cref="ValueTask"/> or nothing; it may be private. Without the attribute a method named after the type in
/// PascalCase (<c>chat.message</c> → <c>ChatMessage</c> or <c>ChatMessageAsync</c>) handles it.
/// </summary>
/// <param name="type">The message type, e.g. <c>chat.message</c>.</param>
[AttributeUsage(AttributeTargets.Method, AllowMultiple = true, Inherited = true)]
public sealed class GroupHandlerAttribute(string type) : Attribute
{
    /// <summary>The message type this method handles.</summary>
    public string Type { get; } = type;
}
