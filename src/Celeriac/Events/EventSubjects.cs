namespace Celeriac;

/// <summary>
/// Subjects and patterns, as NATS has them. A subject is dot-separated tokens (<c>alerts.disk.full</c>); a token is
/// not empty and holds no whitespace, <c>*</c> or <c>&gt;</c>. A pattern may use <c>*</c> for exactly one token and
/// <c>&gt;</c>, as its last token only, for one or more trailing tokens.
/// </summary>
public static class EventSubjects
{
    /// <summary>The longest subject or pattern accepted, in characters.</summary>
    public const int MaxLength = 256;

    /// <summary>Throws an <see cref="ArgumentException"/> that says what is wrong when <paramref name="subject"/> is not a valid subject.</summary>
    public static void ValidateSubject(string subject)
    {
        if (Check(subject, pattern: false) is { } error)
            throw new ArgumentException($"Invalid subject '{subject}': {error}", nameof(subject));
    }

    /// <summary>Throws an <see cref="ArgumentException"/> that says what is wrong when <paramref name="pattern"/> is not a valid pattern.</summary>
    public static void ValidatePattern(string pattern)
    {
        if (Check(pattern, pattern: true) is { } error)
            throw new ArgumentException($"Invalid subject pattern '{pattern}': {error}", nameof(pattern));
    }

    /// <summary>Whether <paramref name="subject"/> is valid.</summary>
    public static bool IsValidSubject(string? subject) => subject is not null && Check(subject, pattern: false) is null;

    /// <summary>Whether <paramref name="pattern"/> is valid.</summary>
    public static bool IsValidPattern(string? pattern) => pattern is not null && Check(pattern, pattern: true) is null;

    /// <summary>
    /// Whether <paramref name="subject"/> matches <paramref name="pattern"/>. Both are assumed valid; an invalid one
    /// matches nothing rather than throwing.
    /// </summary>
    public static bool Matches(string pattern, string subject)
    {
        ArgumentNullException.ThrowIfNull(pattern);
        ArgumentNullException.ThrowIfNull(subject);
        var p = pattern.AsSpan();
        var s = subject.AsSpan();
        while (true)
        {
            var pToken = NextToken(ref p, out var pMore);
            if (pToken is ">") return !pMore && s.Length > 0;
            var sToken = NextToken(ref s, out var sMore);
            if (sToken.Length == 0 || !(pToken is "*" || pToken.SequenceEqual(sToken))) return false;
            if (!pMore || !sMore) return pMore == sMore;
        }
    }

    private static ReadOnlySpan<char> NextToken(ref ReadOnlySpan<char> rest, out bool more)
    {
        var dot = rest.IndexOf('.');
        ReadOnlySpan<char> token;
        if (dot < 0)
        {
            token = rest;
            rest = [];
            more = false;
        }
        else
        {
            token = rest[..dot];
            rest = rest[(dot + 1)..];
            more = true;
        }
        return token;
    }

    private static string? Check(string value, bool pattern)
    {
        if (value is null) return "it is null.";
        if (value.Length == 0) return "it is empty.";
        if (value.Length > MaxLength) return $"it is longer than {MaxLength} characters.";
        var tokens = value.Split('.');
        for (var i = 0; i < tokens.Length; i++)
        {
            var token = tokens[i];
            if (token.Length == 0) return "tokens between dots may not be empty.";
            foreach (var c in token)
            {
                if (char.IsWhiteSpace(c) || char.IsControl(c)) return "it may not contain whitespace or control characters.";
            }
            var wild = token.Contains('*', StringComparison.Ordinal) || token.Contains('>', StringComparison.Ordinal);
            if (!wild) continue;
            if (!pattern) return "a subject may not contain the wildcards '*' or '>' (they belong in patterns).";
            if (token is not ("*" or ">")) return "a wildcard must be a whole token ('a.*', not 'a*').";
            if (token is ">" && i != tokens.Length - 1) return "'>' may only be the last token.";
        }
        return null;
    }
}
