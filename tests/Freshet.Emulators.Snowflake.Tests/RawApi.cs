using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Freshet.Emulators.Snowflake.Tests;

/// <summary>
/// Talks to the emulator the way the documentation describes the wire, without the data plane's client: these tests check
/// the emulator's rules, so every header and claim is set by hand here.
/// </summary>
internal sealed class RawApi(SnowflakeEmulator emulator, RSA key, string user = "LOADER") : IDisposable
{
    public HttpClient Http { get; } = new() { BaseAddress = emulator.BaseAddress };

    public string User => user;

    public static async Task<(SnowflakeEmulator Emulator, RawApi Api)> StartAsync(SnowflakeEmulatorOptions? options = null)
    {
        var emulator = await SnowflakeEmulator.StartAsync(options ?? new SnowflakeEmulatorOptions { Account = "XY12345" });
        var key = RSA.Create(2048);
        emulator.RegisterPublicKey("LOADER", key);
        return (emulator, new RawApi(emulator, key));
    }

    public string Jwt(string? iss = null, string? sub = null, DateTimeOffset? iat = null, DateTimeOffset? exp = null, string alg = "RS256", RSA? signWith = null)
    {
        var qualified = $"{emulator.Options.Account}.{user}";
        var now = DateTimeOffset.UtcNow;
        var header = B64(JsonSerializer.SerializeToUtf8Bytes(new { alg, typ = "JWT" }));
        var payload = B64(JsonSerializer.SerializeToUtf8Bytes(new
        {
            iss = iss ?? $"{qualified}.{Fingerprint(key)}",
            sub = sub ?? qualified,
            iat = (iat ?? now).ToUnixTimeSeconds(),
            exp = (exp ?? now.AddMinutes(59)).ToUnixTimeSeconds(),
        }));
        var signature = (signWith ?? key).SignData(Encoding.ASCII.GetBytes(header + "." + payload), HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        return header + "." + payload + "." + B64(signature);
    }

    public static string Fingerprint(RSA key) => "SHA256:" + Convert.ToBase64String(SHA256.HashData(key.ExportSubjectPublicKeyInfo()));

    public HttpRequestMessage Request(HttpMethod method, string path, object? body = null, string? token = null, string tokenType = "KEYPAIR_JWT")
    {
        var request = new HttpRequestMessage(method, path);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token ?? Jwt());
        request.Headers.Add("X-Snowflake-Authorization-Token-Type", tokenType);
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        request.Headers.UserAgent.ParseAdd("emulator-tests/1.0");
        if (body is not null)
        {
            request.Content = new StringContent(body as string ?? JsonSerializer.Serialize(body), Encoding.UTF8, "application/json");
        }
        return request;
    }

    public async Task<Answer> SendAsync(HttpRequestMessage request)
    {
        using (request)
        {
            using var response = await Http.SendAsync(request);
            var text = await response.Content.ReadAsStringAsync();
            return new Answer((int)response.StatusCode, text.Length > 0 ? JsonNode.Parse(text) : null, response.Headers.RetryAfter?.Delta);
        }
    }

    public Task<Answer> SubmitAsync(string statement, string query = "", object? bindings = null, int? multiStatementCount = null) =>
        SendAsync(Request(HttpMethod.Post, "/api/v2/statements" + query, Body(statement, bindings, multiStatementCount)));

    public Task<Answer> PollAsync(string handle, string query = "") => SendAsync(Request(HttpMethod.Get, $"/api/v2/statements/{handle}{query}"));

    public static object Body(string statement, object? bindings = null, int? multiStatementCount = null) => new Dictionary<string, object?>
    {
        ["statement"] = statement,
        ["database"] = "FRESHET",
        ["schema"] = "PUBLIC",
        ["bindings"] = bindings,
        ["parameters"] = multiStatementCount is null ? null : new Dictionary<string, string> { ["MULTI_STATEMENT_COUNT"] = multiStatementCount.Value.ToString(System.Globalization.CultureInfo.InvariantCulture) },
    };

    private static string B64(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    public void Dispose()
    {
        Http.Dispose();
        key.Dispose();
    }
}

internal sealed record Answer(int Status, JsonNode? Json, TimeSpan? RetryAfter)
{
    public string? Code => Json?["code"]?.GetValue<string>();
    public string Message => Json?["message"]?.GetValue<string>() ?? "";
    public string Handle => Json?["statementHandle"]?.GetValue<string>() ?? throw new InvalidOperationException("no statementHandle in " + Json);

    public List<string?[]> Rows => Json?["data"]?.AsArray().Select(r => r!.AsArray().Select(v => v?.GetValue<string>()).ToArray()).ToList() ?? [];

    public override string ToString() => $"{Status} {Json}";
}
