namespace Celeriac;

/// <summary>Raised when a task runs past its soft or hard time limit. Not retried unless its policy names it.</summary>
public sealed class TimeLimitExceededException : TimeoutException
{
    internal TimeLimitExceededException(string message) : base(message)
    {
    }
}
