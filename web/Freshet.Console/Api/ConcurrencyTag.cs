namespace Freshet.Console.Api;

/// <summary>
/// A resource the console may edit: it keeps the ETag the control plane answered when the page read it, and sends it
/// back as <c>If-Match</c> on the save, so that a change someone made meanwhile is refused (412) rather than silently
/// overwritten by a form filled from the older version.
/// </summary>
/// <remarks>
/// The tag is taken from the response header, not rebuilt from a version field, so the console does not depend on how
/// the API forms its ETags. It is set by <see cref="FreshetApi"/> after reading the body, hence settable.
/// </remarks>
public interface IConcurrencyTagged
{
    string? ETag { get; set; }
}
