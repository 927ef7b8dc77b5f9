// FeedFetcher: a web app that fetches pages from a flaky upstream server in background tasks.
//
//   dotnet run --project samples/FeedFetcher                       web + worker in one process (the default, `all`)
//   curl -X POST 'http://127.0.0.1:5080/feeds/fetch-all?count=20'  fan out 20 fetches
//   curl http://127.0.0.1:5080/feeds                               what was stored, and when
//   dotnet run --project samples/FeedFetcher -- call feeds.fetch_all --args '[5]' --wait
//   dotnet run --project samples/FeedFetcher -- inspect
using Celeriac;
using FeedFetcher.Feeds;
using FeedFetcher.Upstream;

var builder = WebApplication.CreateBuilder(args);

// Queue and results in one SQLite file: every process started from this directory (web, workers, `call`) shares it.
builder.Services.AddCeleriac(c => c.UseSqlite("data/feeds.db"));

builder.Services.AddSingleton<FeedStore>();
builder.Services.AddSingleton<UpstreamSimulator>();
builder.Services.AddSingleton<UpstreamAddress>();
builder.Services.AddHttpClient(FeedTasks.UpstreamClient, (sp, client) =>
{
    client.BaseAddress = sp.GetRequiredService<UpstreamAddress>().BaseUri;
    client.Timeout = TimeSpan.FromSeconds(builder.Configuration.GetValue("Upstream:TimeoutSeconds", 5.0));
});

var app = builder.Build();

// The flaky upstream server the tasks fetch from (part of this app so there is nothing to install).
app.MapUpstream();

// Tasks. A 503 from upstream throws HttpRequestException, a timeout TaskCanceledException: both are retried.
app.MapTask("feeds.fetch", FeedTasks.FetchAsync)
   .Retry(on: [typeof(HttpRequestException), typeof(TaskCanceledException)], backoff: TimeSpan.FromSeconds(1), maxRetries: 5, jitter: true);
app.MapTask("feeds.fetch_all", FeedTasks.FetchAllAsync);

// HTTP API.
app.MapFeedEndpoints();

return await app.RunCeleriacAsync(args);
