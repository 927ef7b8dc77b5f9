using Celeriac.Testing.Browser;

namespace Celeriac.AspNetCore.BrowserTests;

/// <summary>The browser tests share one Chromium and run one at a time (a page per test).</summary>
[CollectionDefinition(Name)]
public sealed class BrowserCollection : ICollectionFixture<ChromiumFixture>
{
    public const string Name = "browser";
}
