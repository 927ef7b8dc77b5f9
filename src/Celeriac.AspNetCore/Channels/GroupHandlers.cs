using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;
using System.Reflection;
using System.Text;

namespace Celeriac.AspNetCore.Channels;

/// <summary>
/// The group message handlers of one consumer type, found once by reflection (<see cref="GroupHandlerAttribute"/>
/// first, then the PascalCase naming convention) and called through open delegates, so dispatching a message is a
/// dictionary lookup and a delegate call.
/// </summary>
internal sealed class GroupHandlers
{
    /// <summary>Types remembered per consumer type; beyond that, lookups are not cached (types come from the server, so this is a guard only).</summary>
    private const int MaxCachedTypes = 1024;

    private static readonly ConcurrentDictionary<Type, GroupHandlers> ByConsumer = new();

    private readonly Dictionary<string, Func<WebSocketConsumer, GroupMessage, ValueTask>> _byType = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Func<WebSocketConsumer, GroupMessage, ValueTask>> _byMethodName = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Func<WebSocketConsumer, GroupMessage, ValueTask>?> _resolved = new(StringComparer.Ordinal);

    /// <summary>The handlers of <typeparamref name="T"/>; throws <see cref="InvalidOperationException"/> for a misdeclared handler.</summary>
    public static GroupHandlers For<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicMethods | DynamicallyAccessedMemberTypes.NonPublicMethods)] T>()
        where T : WebSocketConsumer =>
        ByConsumer.TryGetValue(typeof(T), out var handlers) ? handlers : ByConsumer.GetOrAdd(typeof(T), Build<T>());

    /// <summary>The handler of messages of <paramref name="type"/>, or null.</summary>
    public Func<WebSocketConsumer, GroupMessage, ValueTask>? Find(string type)
    {
        if (_resolved.TryGetValue(type, out var handler)) return handler;
        handler = Resolve(type);
        if (_resolved.Count < MaxCachedTypes) _resolved.TryAdd(type, handler);
        return handler;
    }

    private Func<WebSocketConsumer, GroupMessage, ValueTask>? Resolve(string type)
    {
        if (_byType.TryGetValue(type, out var handler)) return handler;
        var name = MethodNameOf(type);
        return name.Length == 0 ? null : _byMethodName.GetValueOrDefault(name) ?? _byMethodName.GetValueOrDefault(name + "Async");
    }

    /// <summary><c>chat.message</c>, <c>chat_message</c> and <c>chat-message</c> → <c>ChatMessage</c>.</summary>
    internal static string MethodNameOf(string type)
    {
        var name = new StringBuilder(type.Length);
        foreach (var part in type.Split(['.', '_', '-', ' ', ':', '/'], StringSplitOptions.RemoveEmptyEntries))
        {
            name.Append(char.ToUpperInvariant(part[0])).Append(part, 1, part.Length - 1);
        }
        return name.ToString();
    }

    private static GroupHandlers Build<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicMethods | DynamicallyAccessedMemberTypes.NonPublicMethods)] T>()
        where T : WebSocketConsumer
    {
        var handlers = new GroupHandlers();
        const BindingFlags Flags = BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly;
        // Most derived type first, so that its handlers win over a base consumer's.
        for (var type = typeof(T); type is not null && type != typeof(WebSocketConsumer) && type != typeof(JsonWebSocketConsumer); type = type.BaseType)
        {
            var declaredHere = new HashSet<string>(StringComparer.Ordinal);
            foreach (var method in type.GetMethods(Flags))
            {
                if (method.IsSpecialName || method.IsGenericMethodDefinition) continue;
                var attributes = method.GetCustomAttributes<GroupHandlerAttribute>(inherit: true).ToList();
                var parameters = method.GetParameters();
                var fits = parameters.Length == 1 && parameters[0].ParameterType == typeof(GroupMessage)
                    && (method.ReturnType == typeof(void) || method.ReturnType == typeof(ValueTask) || typeof(Task).IsAssignableFrom(method.ReturnType));
                if (!fits)
                {
                    if (attributes.Count > 0)
                        throw new InvalidOperationException($"{type.Name}.{method.Name} has [GroupHandler] but a group handler takes one GroupMessage and returns Task, ValueTask or void.");
                    continue;
                }
                // OnGroupMessageAsync and the like belong to the framework, not to a message type.
                var baseType = method.GetBaseDefinition().DeclaringType;
                if (baseType == typeof(WebSocketConsumer) || baseType == typeof(JsonWebSocketConsumer)) continue;

                var handler = Bind<T>(method);
                foreach (var attribute in attributes)
                {
                    if (string.IsNullOrWhiteSpace(attribute.Type))
                        throw new InvalidOperationException($"{type.Name}.{method.Name}: [GroupHandler] needs a message type.");
                    if (!declaredHere.Add(attribute.Type))
                        throw new InvalidOperationException($"{type.Name} has two [GroupHandler(\"{attribute.Type}\")] methods.");
                    handlers._byType.TryAdd(attribute.Type, handler);
                }
                handlers._byMethodName.TryAdd(method.Name, handler);
            }
        }
        return handlers;
    }

    private static Func<WebSocketConsumer, GroupMessage, ValueTask> Bind<T>(MethodInfo method) where T : WebSocketConsumer
    {
        if (method.ReturnType == typeof(void))
        {
            var action = method.CreateDelegate<Action<T, GroupMessage>>();
            return (consumer, message) =>
            {
                action((T)consumer, message);
                return ValueTask.CompletedTask;
            };
        }
        if (method.ReturnType == typeof(ValueTask))
        {
            var valueTask = method.CreateDelegate<Func<T, GroupMessage, ValueTask>>();
            return (consumer, message) => valueTask((T)consumer, message);
        }
        var task = method.CreateDelegate<Func<T, GroupMessage, Task>>();
        return (consumer, message) => new ValueTask(task((T)consumer, message));
    }
}
