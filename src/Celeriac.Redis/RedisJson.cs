using System.Text.Json.Serialization;
using Celeriac.Transport;

namespace Celeriac.Redis;

/// <summary>A stored task result with its expiry (Unix ms, client clock), checked on read.</summary>
internal sealed record StoredResult(TaskResult Result, long? ExpiresAt);

/// <summary>One entry of the dead-letter list, as the dead-letter script writes it.</summary>
internal sealed record StoredDeadLetter(string Id, string Queue, string Body, int DeliveryCount, long FailedAt, DeadLetterInfo Info);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(StoredResult))]
[JsonSerializable(typeof(StoredDeadLetter))]
[JsonSerializable(typeof(DeadLetterInfo))]
internal sealed partial class RedisJsonContext : JsonSerializerContext;
