using Xunit;

namespace Celeriac.Testing.Browser;

/// <summary>
/// A fact that needs Chromium. When <see cref="Chromium.FindExecutable"/> finds none the test is skipped with
/// <see cref="Chromium.MissingMessage"/>, except in CI (<c>CI=true</c>), where it runs and fails with that message:
/// in CI a missing browser is a failure, not a skip.
/// </summary>
[AttributeUsage(AttributeTargets.Method, AllowMultiple = false)]
public sealed class BrowserFactAttribute : FactAttribute
{
    /// <summary>Skips the test when Chromium is missing, outside CI.</summary>
    public BrowserFactAttribute()
    {
        if (Chromium.FindExecutable() is null && Environment.GetEnvironmentVariable("CI") != "true")
            Skip = Chromium.MissingMessage;
    }
}
