namespace Freshet.DataPlane.Destinations.Snowflake;

/// <summary>
/// A Snowflake account identifier in either documented form, with what each part of the protocol needs from it:
/// the host (<c>https://&lt;identifier&gt;.snowflakecomputing.com</c>) and the account name in JWT claims
/// (docs: "Using key-pair authentication": upper case; the locator alone for <c>locator.region[.cloud]</c>;
/// <c>ORG-ACCOUNT</c> for the organization form).
/// </summary>
public sealed record SnowflakeAccount
{
    private SnowflakeAccount(string identifier, string jwtAccountName)
    {
        Identifier = identifier;
        JwtAccountName = jwtAccountName;
    }

    /// <summary>The identifier as it appears in the host name, lower case (e.g. <c>myorg-myaccount</c>, <c>xy12345.us-east-1</c>).</summary>
    public string Identifier { get; }

    /// <summary>The account part of <c>iss</c> and <c>sub</c>.</summary>
    public string JwtAccountName { get; }

    public Uri DefaultEndpoint => new($"https://{Identifier}.snowflakecomputing.com/");

    /// <summary>
    /// Reads <c>orgname-accountname</c>, <c>orgname.accountname</c> (written with a dot in some tools; the host and the JWT use
    /// a hyphen), a locator (<c>xy12345</c>), a locator with region and cloud (<c>xy12345.us-east-1.aws</c>), or any of these
    /// with <c>.snowflakecomputing.com</c> or an https:// prefix.
    /// </summary>
    public static SnowflakeAccount Parse(string text)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(text);
        var identifier = text.Trim().ToLowerInvariant();
        if (identifier.StartsWith("https://", StringComparison.Ordinal))
        {
            identifier = identifier["https://".Length..].TrimEnd('/');
        }
        const string Domain = ".snowflakecomputing.com";
        if (identifier.EndsWith(Domain, StringComparison.Ordinal))
        {
            identifier = identifier[..^Domain.Length];
        }
        if (identifier.Length == 0 || identifier.Any(c => !(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.')))
        {
            throw new ArgumentException(
                $"'{text}' is not a Snowflake account identifier: expected orgname-accountname or a locator such as xy12345.us-east-1 (letters, digits, '-', '_', '.').",
                nameof(text));
        }
        var parts = identifier.Split('.');
        if (parts.Any(p => p.Length == 0))
        {
            throw new ArgumentException($"'{text}' has an empty part between dots.", nameof(text));
        }
        // Two parts where the second is not a region name: the organization form written with a dot.
        if (parts.Length == 2 && !LooksLikeRegion(parts[1]))
        {
            var orgAccount = parts[0] + "-" + parts[1];
            return new SnowflakeAccount(orgAccount, orgAccount.ToUpperInvariant());
        }
        // A locator with region (and cloud): the JWT names the locator only.
        return new SnowflakeAccount(identifier, parts[0].ToUpperInvariant());
    }

    // Region ids (us-east-1, eu-central-1, us-central1, ap-southeast-2) contain a hyphen and end in a digit. A wrong guess
    // only changes the JWT account name, which the service then refuses with "JWT token is invalid" on the first request.
    private static bool LooksLikeRegion(string part) => part.Contains('-', StringComparison.Ordinal) && char.IsAsciiDigit(part[^1]);
}
