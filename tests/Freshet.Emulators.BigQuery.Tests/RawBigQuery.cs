using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Freshet.BigQuery.Storage.V1;
using Google.Protobuf;
using Google.Protobuf.Reflection;
using Grpc.Core;
using Grpc.Net.Client;

namespace Freshet.Emulators.BigQuery.Tests;

/// <summary>An HTTP answer: status, JSON body, Retry-After.</summary>
internal sealed record Answer(int Status, JsonNode? Body, TimeSpan? RetryAfter);

/// <summary>
/// Talks to the emulator the way Google's documentation describes the wire, without the data plane's client: the JWT
/// assertion, token exchange, REST bodies and AppendRows requests are all built by hand here, so that these tests check
/// the emulator's rules rather than our client's habits.
/// </summary>
internal sealed class RawBigQuery : IAsyncDisposable
{
    public const string Account = "loader@freshet-emulator.iam.gserviceaccount.com";
    public const string Scope = "https://www.googleapis.com/auth/bigquery";

    private RawBigQuery(BigQueryEmulator emulator, JsonNode keyFile)
    {
        Emulator = emulator;
        KeyFile = keyFile;
        Key = RSA.Create();
        Key.ImportFromPem(keyFile["private_key"]!.GetValue<string>());
        Http = new HttpClient { BaseAddress = emulator.RestAddress };
        Channel = GrpcChannel.ForAddress(emulator.StorageAddress);
        Write = new BigQueryWrite.BigQueryWriteClient(Channel);
    }

    public BigQueryEmulator Emulator { get; }

    public JsonNode KeyFile { get; }

    public RSA Key { get; }

    public HttpClient Http { get; }

    public GrpcChannel Channel { get; }

    public BigQueryWrite.BigQueryWriteClient Write { get; }

    public string Project => Emulator.Options.ProjectId;

    public static async Task<RawBigQuery> StartAsync(BigQueryEmulatorOptions? options = null)
    {
        var emulator = await BigQueryEmulator.StartAsync(options);
        return new RawBigQuery(emulator, JsonNode.Parse(emulator.CreateServiceAccountKey(Account))!);
    }

    /// <summary>A service-account JWT assertion (developers.google.com/identity/protocols/oauth2/service-account).</summary>
    public string Assertion(string? iss = null, string? aud = null, string? scope = Scope, DateTimeOffset? iat = null, DateTimeOffset? exp = null, RSA? signWith = null, string? kid = null)
    {
        var now = DateTimeOffset.UtcNow;
        var header = B64(JsonSerializer.SerializeToUtf8Bytes(new { alg = "RS256", typ = "JWT", kid = kid ?? KeyFile["private_key_id"]!.GetValue<string>() }));
        var claims = new JsonObject
        {
            ["iss"] = iss ?? Account,
            ["aud"] = aud ?? "https://oauth2.googleapis.com/token",
            ["iat"] = (iat ?? now).ToUnixTimeSeconds(),
            ["exp"] = (exp ?? now.AddHours(1)).ToUnixTimeSeconds(),
        };
        if (scope is not null)
        {
            claims["scope"] = scope;
        }
        var payload = B64(Encoding.UTF8.GetBytes(claims.ToJsonString()));
        var signature = (signWith ?? Key).SignData(Encoding.ASCII.GetBytes(header + "." + payload), HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        return header + "." + payload + "." + B64(signature);
    }

    public async Task<Answer> ExchangeAsync(string assertion, string grantType = "urn:ietf:params:oauth:grant-type:jwt-bearer")
    {
        using var response = await Http.PostAsync("token", new FormUrlEncodedContent(new Dictionary<string, string> { ["grant_type"] = grantType, ["assertion"] = assertion }));
        return new Answer((int)response.StatusCode, JsonNode.Parse(await response.Content.ReadAsStringAsync()), null);
    }

    private string? _token;

    public async Task<string> TokenAsync()
    {
        if (_token is null)
        {
            var answer = await ExchangeAsync(Assertion());
            Assert.Equal(200, answer.Status);
            _token = answer.Body!["access_token"]!.GetValue<string>();
        }
        return _token;
    }

    public async Task<Answer> SendAsync(HttpMethod method, string path, object? body = null, string? token = null, bool authenticate = true)
    {
        using var request = new HttpRequestMessage(method, $"bigquery/v2/projects/{Project}/{path}");
        if (authenticate)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token ?? await TokenAsync());
        }
        if (body is not null)
        {
            request.Content = new StringContent(body as string ?? (body is JsonNode node ? node.ToJsonString() : JsonSerializer.Serialize(body)), Encoding.UTF8, "application/json");
        }
        using var response = await Http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        return new Answer((int)response.StatusCode, text.Length > 0 ? JsonNode.Parse(text) : null, response.Headers.RetryAfter?.Delta);
    }

    /// <summary>tables.insert with fields as (name, type[, mode]) and an optional primary key.</summary>
    public Task<Answer> CreateTableAsync(string table, (string Name, string Type, string Mode)[] fields, string[]? primaryKey = null, string dataset = "freshet", string? maxStaleness = null)
    {
        var body = new JsonObject
        {
            ["tableReference"] = new JsonObject { ["projectId"] = Project, ["datasetId"] = dataset, ["tableId"] = table },
            ["schema"] = new JsonObject { ["fields"] = new JsonArray([.. fields.Select(f => (JsonNode)new JsonObject { ["name"] = f.Name, ["type"] = f.Type, ["mode"] = f.Mode })]) },
        };
        if (primaryKey is not null)
        {
            body["tableConstraints"] = new JsonObject { ["primaryKey"] = new JsonObject { ["columns"] = new JsonArray([.. primaryKey.Select(k => (JsonNode)JsonValue.Create(k)!)]) } };
        }
        if (maxStaleness is not null)
        {
            body["maxStaleness"] = maxStaleness;
        }
        return SendAsync(HttpMethod.Post, $"datasets/{dataset}/tables", body);
    }

    public Task<Answer> QueryAsync(string sql, object[]? parameters = null, bool? useLegacySql = false, object? extra = null)
    {
        var body = new JsonObject { ["query"] = sql };
        if (useLegacySql is { } legacy)
        {
            body["useLegacySql"] = legacy;
        }
        if (parameters is not null)
        {
            body["parameterMode"] = "NAMED";
            body["queryParameters"] = JsonNode.Parse(JsonSerializer.Serialize(parameters));
        }
        if (extra is not null)
        {
            foreach (var (name, value) in JsonNode.Parse(JsonSerializer.Serialize(extra))!.AsObject())
            {
                body[name] = value?.DeepClone();
            }
        }
        return SendAsync(HttpMethod.Post, "queries", body);
    }

    /// <summary>Asserts a 200, showing the error body otherwise.</summary>
    public static Answer Ok(Answer answer)
    {
        Assert.True(answer.Status == 200, $"HTTP {answer.Status}: {answer.Body?.ToJsonString()}");
        return answer;
    }

    public static object Parameter(string name, string type, string? value) =>
        new { name, parameterType = new { type }, parameterValue = new { value } };

    /// <summary>Rows of a finished query as strings, from the REST row format.</summary>
    public static List<string?[]> Rows(Answer answer) =>
        [.. (answer.Body!["rows"]?.AsArray() ?? []).Select(r => r!["f"]!.AsArray().Select(f => f!["v"]?.GetValue<string>()).ToArray())];

    public string StreamName(string table, string dataset = "freshet") => $"projects/{Project}/datasets/{dataset}/tables/{table}/streams/_default";

    public async Task<AsyncDuplexStreamingCall<AppendRowsRequest, AppendRowsResponse>> OpenAppendAsync(string? token = null)
    {
        var headers = new Metadata { { "authorization", "Bearer " + (token ?? await TokenAsync()) } };
        return Write.AppendRows(headers);
    }

    /// <summary>Sends one request and reads its response on an open connection.</summary>
    public static async Task<AppendRowsResponse> AppendAsync(AsyncDuplexStreamingCall<AppendRowsRequest, AppendRowsResponse> call, AppendRowsRequest request)
    {
        await call.RequestStream.WriteAsync(request);
        Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None), "the connection ended without a response");
        return call.ResponseStream.Current;
    }

    /// <summary>A writer schema: proto2-style optional fields, numbered from 1 in the order given.</summary>
    public static DescriptorProto Descriptor(params (string Name, FieldDescriptorProto.Types.Type Type)[] fields)
    {
        var descriptor = new DescriptorProto { Name = "Row" };
        for (var i = 0; i < fields.Length; i++)
        {
            descriptor.Field.Add(new FieldDescriptorProto
            {
                Name = fields[i].Name,
                Number = i + 1,
                Type = fields[i].Type,
                Label = FieldDescriptorProto.Types.Label.Optional,
            });
        }
        return descriptor;
    }

    /// <summary>One row serialized by hand: values in field order (field number = position + 1), null = absent.</summary>
    public static ByteString Row(params object?[] values)
    {
        using var buffer = new MemoryStream();
        var output = new CodedOutputStream(buffer);
        for (var i = 0; i < values.Length; i++)
        {
            var number = i + 1;
            switch (values[i])
            {
                case null:
                    break;
                case long l:
                    output.WriteTag(number, WireFormat.WireType.Varint);
                    output.WriteInt64(l);
                    break;
                case int n:
                    output.WriteTag(number, WireFormat.WireType.Varint);
                    output.WriteInt32(n);
                    break;
                case double d:
                    output.WriteTag(number, WireFormat.WireType.Fixed64);
                    output.WriteDouble(d);
                    break;
                case bool b:
                    output.WriteTag(number, WireFormat.WireType.Varint);
                    output.WriteBool(b);
                    break;
                case string s:
                    output.WriteTag(number, WireFormat.WireType.LengthDelimited);
                    output.WriteString(s);
                    break;
                case byte[] bytes:
                    output.WriteTag(number, WireFormat.WireType.LengthDelimited);
                    output.WriteBytes(ByteString.CopyFrom(bytes));
                    break;
                default:
                    throw new ArgumentException($"No encoding for {values[i]!.GetType()}.");
            }
        }
        output.Flush();
        return ByteString.CopyFrom(buffer.ToArray());
    }

    public AppendRowsRequest Request(string? table, DescriptorProto? schema, params ByteString[] rows)
    {
        var data = new AppendRowsRequest.Types.ProtoData { Rows = new ProtoRows() };
        data.Rows.SerializedRows.Add(rows);
        if (schema is not null)
        {
            data.WriterSchema = new ProtoSchema { ProtoDescriptor = schema };
        }
        return new AppendRowsRequest { WriteStream = table is null ? "" : StreamName(table), ProtoRows = data };
    }

    public static string B64(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        Channel.Dispose();
        Key.Dispose();
        await Emulator.DisposeAsync();
    }
}
