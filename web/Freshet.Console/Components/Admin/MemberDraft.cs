namespace Freshet.Console.Components.Admin;

/// <summary>A member to add, as the form checked it.</summary>
public sealed record MemberDraft(string Email, string? DisplayName, string Role);
