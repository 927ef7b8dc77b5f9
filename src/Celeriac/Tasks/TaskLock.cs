using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Celeriac;

/// <summary>A lock key template such as <c>device:{deviceId}</c>, checked against the task's parameters when registered.</summary>
internal sealed class TaskLock
{
    private readonly List<(string Text, int Parameter)> _parts;

    private TaskLock(string template, List<(string, int)> parts)
    {
        Template = template;
        _parts = parts;
    }

    public string Template { get; }

    public static TaskLock Parse(string task, string template, IReadOnlyList<string?> argumentNames)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(template);
        var parts = new List<(string, int)>();
        var i = 0;
        while (i < template.Length)
        {
            var open = template.IndexOf('{', i);
            if (open < 0)
            {
                parts.Add((template[i..], -1));
                break;
            }
            if (open > i) parts.Add((template[i..open], -1));
            var close = template.IndexOf('}', open);
            if (close < 0) throw new ArgumentException($"Lock key '{template}' of task '{task}' has an unclosed '{{'.", nameof(template));
            var name = template[(open + 1)..close];
            var index = -1;
            for (var p = 0; p < argumentNames.Count; p++)
                if (string.Equals(argumentNames[p], name, StringComparison.OrdinalIgnoreCase)) index = p;
            if (index < 0)
                throw new ArgumentException($"Lock key '{template}' of task '{task}' names '{{{name}}}', which is not an argument of the task.", nameof(template));
            parts.Add((name, index));
            i = close + 1;
        }
        return new TaskLock(template, parts);
    }

    /// <summary>
    /// The key for one run, from its bound parameter values. It does not name the task: tasks whose templates give the
    /// same key (<c>devices.poll</c> and <c>devices.switch</c> both on <c>device:{deviceId}</c>) exclude each other.
    /// </summary>
    public string KeyFor(object?[] values)
    {
        var key = new StringBuilder("lock:");
        foreach (var (text, parameter) in _parts)
        {
            if (parameter < 0)
            {
                key.Append(text);
                continue;
            }
            key.Append(values[parameter] switch
            {
                null => "null",
                string s => s,
                IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
                var other => JsonSerializer.Serialize(other, other.GetType()),
            });
        }
        return key.ToString();
    }
}
