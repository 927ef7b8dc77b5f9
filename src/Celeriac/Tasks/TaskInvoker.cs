using System.Reflection;
using System.Text.Json;
using Celeriac.Messaging;
using Microsoft.Extensions.DependencyInjection;

namespace Celeriac;

/// <summary>
/// Binds a task's parameters and calls its delegate. Each parameter comes from, in order: a
/// <see cref="CancellationToken"/>, the <see cref="TaskContext"/>, a service the container knows, a keyword argument
/// of the same name (exact, then ignoring case and underscores), the next positional argument, or its default value.
/// A parameter that cannot be bound fails the task with a <see cref="TaskBindingException"/> that names it.
/// </summary>
internal sealed class TaskInvoker
{
    private enum Source { Cancellation, Context, EventContext, Service, Argument }

    private readonly string _task;
    private readonly Delegate _handler;
    private readonly MethodInvoker _invoker;
    private readonly ParameterInfo[] _parameters;
    private readonly Func<object?, Task<(bool HasValue, object? Value)>> _unwrap;
    private Source[]? _sources;

    private readonly bool _payloadOptional;

    private TaskInvoker(string task, Delegate handler, bool payloadOptional)
    {
        _task = task;
        _payloadOptional = payloadOptional;
        _handler = handler;
        _invoker = MethodInvoker.Create(handler.Method);
        _parameters = handler.Method.GetParameters();
        _unwrap = ResultUnwrapper.For(handler.Method.ReturnType);
    }

    /// <summary>
    /// An invoker for <paramref name="handler"/>. With <paramref name="payloadOptional"/> (subscription handlers), a
    /// positional argument no parameter takes is ignored instead of refused: a handler need not declare the payload.
    /// </summary>
    public static TaskInvoker Create(string task, Delegate handler, bool payloadOptional = false) => new(task, handler, payloadOptional);

    /// <summary>The delegate's parameter names, by position (lock key templates refer to them).</summary>
    public IReadOnlyList<string?> ArgumentNames => [.. _parameters.Select(p => p.Name)];

    /// <summary>Runs with values from <see cref="Bind"/>. Returns the value (serialized by the caller) and whether there is one.</summary>
    public async Task<(bool HasValue, object? Value)> InvokeAsync(object?[] values)
    {
        object? returned;
        try
        {
            returned = _invoker.Invoke(_handler.Target, new Span<object?>(values));
        }
        catch (TargetInvocationException e) when (e.InnerException is not null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(e.InnerException);
            throw;
        }
        return await _unwrap(returned).ConfigureAwait(false);
    }

    internal object?[] Bind(IServiceProvider services, TaskContext context, JsonElement? args, JsonElement? kwargs)
    {
        var sources = _sources ??= ResolveSources(services);
        var values = new object?[_parameters.Length];
        var positional = args is { ValueKind: JsonValueKind.Array } a ? a : default;
        var positionalCount = positional.ValueKind == JsonValueKind.Array ? positional.GetArrayLength() : 0;
        if (args is { } given && given.ValueKind is not (JsonValueKind.Array or JsonValueKind.Null))
            throw new TaskBindingException(_task, $"positional arguments must be a JSON array, not {given.ValueKind}.");
        if (kwargs is { } k && k.ValueKind is not (JsonValueKind.Object or JsonValueKind.Null))
            throw new TaskBindingException(_task, $"keyword arguments must be a JSON object, not {k.ValueKind}.");
        var named = kwargs is { ValueKind: JsonValueKind.Object } o ? o : default;
        var usedNames = new HashSet<string>(StringComparer.Ordinal);
        var next = 0;

        for (var i = 0; i < _parameters.Length; i++)
        {
            var p = _parameters[i];
            switch (sources[i])
            {
                case Source.Cancellation: values[i] = context.CancellationToken; continue;
                case Source.Context: values[i] = context; continue;
                case Source.EventContext:
                    values[i] = context.Event ?? throw new TaskBindingException(_task, $"parameter '{p.Name}': an {nameof(EventContext)} is only given to subscription handlers.");
                    continue;
                case Source.Service: values[i] = services.GetRequiredService(p.ParameterType); continue;
            }

            JsonElement raw;
            if (named.ValueKind == JsonValueKind.Object && TryGetNamed(named, p.Name!, out var name, out raw))
            {
                usedNames.Add(name);
            }
            else if (next < positionalCount)
            {
                raw = positional[next++];
            }
            else if (p.HasDefaultValue)
            {
                values[i] = p.DefaultValue;
                continue;
            }
            else
            {
                throw new TaskBindingException(_task, $"missing argument '{p.Name}' ({Describe(p.ParameterType)}).");
            }
            values[i] = Convert(p, raw);
        }

        if (next < positionalCount && !_payloadOptional)
            throw new TaskBindingException(_task, $"takes {next} positional argument(s) but {positionalCount} were given.");
        if (named.ValueKind == JsonValueKind.Object)
        {
            var unknown = named.EnumerateObject().Select(x => x.Name).Where(n => !usedNames.Contains(n)).ToList();
            if (unknown.Count > 0)
                throw new TaskBindingException(_task, $"unknown keyword argument(s): {string.Join(", ", unknown.Select(n => $"'{n}'"))}.");
        }
        return values;
    }

    private object? Convert(ParameterInfo p, JsonElement raw)
    {
        try
        {
            var value = raw.Deserialize(p.ParameterType, TaskJson.Options);
            if (value is null && p.ParameterType.IsValueType && Nullable.GetUnderlyingType(p.ParameterType) is null)
                throw new JsonException("null is not allowed");
            return value;
        }
        catch (Exception e) when (e is JsonException or NotSupportedException or InvalidOperationException or FormatException)
        {
            var shown = raw.GetRawText();
            if (shown.Length > 80) shown = shown[..77] + "...";
            throw new TaskBindingException(_task, $"argument '{p.Name}' expects {Describe(p.ParameterType)} but got {shown} ({e.Message}).");
        }
    }

    private static bool TryGetNamed(JsonElement kwargs, string parameter, out string name, out JsonElement value)
    {
        if (kwargs.TryGetProperty(parameter, out value))
        {
            name = parameter;
            return true;
        }
        var wanted = Normalize(parameter);
        foreach (var property in kwargs.EnumerateObject())
        {
            if (Normalize(property.Name) == wanted)
            {
                name = property.Name;
                value = property.Value;
                return true;
            }
        }
        name = "";
        return false;
    }

    private static string Normalize(string name) => name.Replace("_", "", StringComparison.Ordinal).ToUpperInvariant();

    private Source[] ResolveSources(IServiceProvider services)
    {
        var isService = services.GetService<IServiceProviderIsService>();
        return [.. _parameters.Select(p =>
            p.ParameterType == typeof(CancellationToken) ? Source.Cancellation
            : p.ParameterType == typeof(TaskContext) ? Source.Context
            : p.ParameterType == typeof(EventContext) ? Source.EventContext
            : !IsArgumentLike(p.ParameterType) && isService?.IsService(p.ParameterType) == true ? Source.Service
            : Source.Argument)];
    }

    private static bool IsArgumentLike(Type type) =>
        type.IsPrimitive || type == typeof(string) || type == typeof(decimal) || type.IsEnum
        || Nullable.GetUnderlyingType(type) is not null || type == typeof(JsonElement);

    private static string Describe(Type type) => Nullable.GetUnderlyingType(type) is { } inner ? inner.Name + "?" : type.Name;
}

/// <summary>Raised when a task's arguments do not fit its parameters. Stored as the task's FAILURE; never retried.</summary>
public sealed class TaskBindingException : Exception
{
    internal TaskBindingException(string task, string problem)
        : base($"Task '{task}': {problem}")
    {
    }
}

/// <summary>Turns what a delegate returned (a value, a Task, a ValueTask, with or without a result) into a value.</summary>
internal static class ResultUnwrapper
{
    public static Func<object?, Task<(bool, object?)>> For(Type returnType)
    {
        if (returnType == typeof(void)) return _ => Task.FromResult((false, (object?)null));
        if (returnType == typeof(Task)) return async r => { await ((Task)r!).ConfigureAwait(false); return (false, null); };
        if (returnType == typeof(ValueTask)) return async r => { await ((ValueTask)r!).ConfigureAwait(false); return (false, null); };
        if (returnType.IsGenericType)
        {
            var definition = returnType.GetGenericTypeDefinition();
            var name = definition == typeof(Task<>) ? nameof(AwaitTask) : definition == typeof(ValueTask<>) ? nameof(AwaitValueTask) : null;
            if (name is not null)
            {
                var method = typeof(ResultUnwrapper).GetMethod(name, BindingFlags.NonPublic | BindingFlags.Static)!
                    .MakeGenericMethod(returnType.GetGenericArguments()[0]);
                return method.CreateDelegate<Func<object?, Task<(bool, object?)>>>();
            }
        }
        return r => Task.FromResult((true, r));
    }

    private static async Task<(bool, object?)> AwaitTask<T>(object? task) => (true, await ((Task<T>)task!).ConfigureAwait(false));

    private static async Task<(bool, object?)> AwaitValueTask<T>(object? task) => (true, await ((ValueTask<T>)task!).ConfigureAwait(false));
}
