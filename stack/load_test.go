package stack

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// load writes the template into a fresh directory (with a code directory
// "src") and loads it.
func load(t *testing.T, tmpl string, opts Options) (*Stack, error) {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "src"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "src", "app.py"), []byte("def handler(e, c): pass\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "code.zip"), []byte("PK"), 0o644); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "template.yaml")
	if err := os.WriteFile(path, []byte(tmpl), 0o644); err != nil {
		t.Fatal(err)
	}
	if opts.StackName == "" {
		opts.StackName = "demo"
	}
	return Load(path, opts)
}

// outputs loads a template and returns its outputs as a map.
func outputs(t *testing.T, tmpl string, opts Options) map[string]string {
	t.Helper()
	st, err := load(t, tmpl, opts)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	out := map[string]string{}
	for _, o := range st.Outputs {
		out[o.Name] = o.Value
	}
	return out
}

// errorLines loads a template that must fail and returns its errors as
// "line:col: path: message" without the file name.
func errorLines(t *testing.T, tmpl string, opts Options) []string {
	t.Helper()
	_, err := load(t, tmpl, opts)
	var es Errors
	if !errors.As(err, &es) {
		t.Fatalf("want Errors, got %v", err)
	}
	var out []string
	for _, e := range es {
		if !strings.HasSuffix(e.File, "template.yaml") {
			t.Errorf("error file = %q", e.File)
		}
		s := e.Error()
		out = append(out, s[strings.Index(s, "template.yaml:")+len("template.yaml:"):])
	}
	return out
}

const bucketOnly = `
Parameters:
  Env:
    Type: String
    Default: dev
  Names:
    Type: CommaDelimitedList
    Default: "a, b,c"
Conditions:
  IsDev: !Equals [!Ref Env, dev]
  IsProd: !Not [!Condition IsDev]
  Both: !And [!Condition IsDev, !Equals [x, x]]
  Either: !Or [!Condition IsProd, !Equals [1, 2]]
Mappings:
  Sizes:
    dev: {Small: "100", Large: "800"}
Resources:
  Photos:
    Type: AWS::S3::Bucket
    Properties:
      BucketName: photos-bucket
`

func TestIntrinsics(t *testing.T) {
	tests := []struct {
		name  string
		value string
		want  string
	}{
		{"ref parameter", `!Ref Env`, "dev"},
		{"ref bucket", `!Ref Photos`, "photos-bucket"},
		{"long ref", `{"Ref": "Photos"}`, "photos-bucket"},
		{"getatt dotted", `!GetAtt Photos.Arn`, "arn:aws:s3:::photos-bucket"},
		{"getatt list", `!GetAtt [Photos, RegionalDomainName]`, "photos-bucket.s3.us-east-1.amazonaws.com"},
		{"getatt long", `{"Fn::GetAtt": ["Photos", "DomainName"]}`, "photos-bucket.s3.amazonaws.com"},
		{"getatt website", `!GetAtt Photos.WebsiteURL`, "http://photos-bucket.s3-website-us-east-1.amazonaws.com"},
		{"sub pseudo", `!Sub "${AWS::StackName}/${AWS::Region}/${AWS::AccountId}/${AWS::Partition}/${AWS::URLSuffix}"`, "demo/us-east-1/000000000000/aws/amazonaws.com"},
		{"sub resource and attr", `!Sub "${Photos} is ${Photos.Arn}"`, "photos-bucket is arn:aws:s3:::photos-bucket"},
		{"sub literal", `!Sub "${!Literal} and ${Env}"`, "${Literal} and dev"},
		{"sub map form", `!Sub ["${A}-${Env}", {A: !Ref Photos}]`, "photos-bucket-dev"},
		{"sub long form", `{"Fn::Sub": "x-${Env}"}`, "x-dev"},
		{"join", `!Join ["-", [a, !Ref Env, "3"]]`, "a-dev-3"},
		{"join list param", `!Join ["|", !Ref Names]`, "a|b|c"},
		{"select", `!Select [1, [x, y, z]]`, "y"},
		{"select string index", `!Select ["2", !Ref Names]`, "c"},
		{"split then select", `!Select [2, !Split [",", "p,q,r"]]`, "r"},
		{"if true", `!If [IsDev, yes, no]`, "yes"},
		{"if false", `!If [IsProd, yes, no]`, "no"},
		{"and", `!If [Both, yes, no]`, "yes"},
		{"or", `!If [Either, yes, no]`, "no"},
		{"find in map", `!FindInMap [Sizes, !Ref Env, Large]`, "800"},
		{"base64", `!Base64 "hi"`, "aGk="},
		{"getazs", `!Select [0, !GetAZs ""]`, "us-east-1a"},
		{"nested", `!Sub ["${X}", {X: !Join ["", [!Select [0, !Split ["-", !Ref Photos]], "!"]]}]`, "photos!"},
		{"api url rewritten", `!Sub "https://abcdefghij.execute-api.${AWS::Region}.amazonaws.com/"`, "http://abcdefghij.execute-api.localhost:4566/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := outputs(t, bucketOnly+"Outputs:\n  V:\n    Value: "+tt.value+"\n", Options{})
			if out["V"] != tt.want {
				t.Errorf("got %q, want %q", out["V"], tt.want)
			}
		})
	}
}

func TestNoValueRemovesProperty(t *testing.T) {
	st, err := load(t, `
Transform: AWS::Serverless-2016-10-31
Conditions:
  Never: !Equals [a, b]
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src
      Handler: app.handler
      Runtime: python3.12
      Timeout: !If [Never, 100, !Ref AWS::NoValue]
      Environment:
        Variables:
          KEEP: "1"
          DROP: !If [Never, x, !Ref "AWS::NoValue"]
`, Options{})
	if err != nil {
		t.Fatal(err)
	}
	f := st.Functions[0]
	if f.Timeout != 3 {
		t.Errorf("Timeout = %d, want the default 3", f.Timeout)
	}
	if diff := cmp.Diff(map[string]string{"KEEP": "1"}, f.Environment); diff != "" {
		t.Errorf("Environment (-want +got):\n%s", diff)
	}
}

func TestConditionalResources(t *testing.T) {
	tmpl := `
Parameters:
  WithBackup:
    Type: String
    Default: "false"
    AllowedValues: ["true", "false"]
Conditions:
  Backup: !Equals [!Ref WithBackup, "true"]
Resources:
  Main:
    Type: AWS::S3::Bucket
  Backup:
    Type: AWS::S3::Bucket
    Condition: Backup
Outputs:
  BackupName:
    Condition: Backup
    Value: !Ref Backup
`
	for _, tt := range []struct {
		name    string
		params  map[string]string
		buckets []string
		outputs int
	}{
		{"default", nil, []string{"demo-main"}, 0},
		{"override", map[string]string{"WithBackup": "true"}, []string{"demo-main", "demo-backup"}, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			st, err := load(t, tmpl, Options{Parameters: tt.params})
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, b := range st.Buckets {
				names = append(names, b.Name)
			}
			if diff := cmp.Diff(tt.buckets, names); diff != "" {
				t.Errorf("buckets (-want +got):\n%s", diff)
			}
			if len(st.Outputs) != tt.outputs {
				t.Errorf("outputs = %v", st.Outputs)
			}
		})
	}
}

func TestGlobalsMerge(t *testing.T) {
	st, err := load(t, `
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Runtime: python3.12
    Handler: app.handler
    CodeUri: src
    Timeout: 20
    MemorySize: 512
    Architectures: [arm64]
    Tags: {team: media, env: dev}
    Environment:
      Variables:
        A: global
        B: global
Resources:
  Plain:
    Type: AWS::Serverless::Function
  Custom:
    Type: AWS::Serverless::Function
    Properties:
      Timeout: 60
      Runtime: nodejs20.x
      Handler: index.handler
      Tags: {env: prod}
      Environment:
        Variables:
          B: mine
          C: mine
`, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := []Function{
		{LogicalID: "Plain", Name: "Plain", Runtime: "python3.12", Handler: "app.handler", Timeout: 20, MemorySize: 512,
			Architectures: []string{"arm64"}, Tags: map[string]string{"team": "media", "env": "dev"},
			Environment: map[string]string{"A": "global", "B": "global"}},
		{LogicalID: "Custom", Name: "Custom", Runtime: "nodejs20.x", Handler: "index.handler", Timeout: 60, MemorySize: 512,
			Architectures: []string{"arm64"}, Tags: map[string]string{"team": "media", "env": "prod"},
			Environment: map[string]string{"A": "global", "B": "mine", "C": "mine"}},
	}
	for i := range st.Functions {
		st.Functions[i].Code, st.Functions[i].Role = Code{}, ""
	}
	if diff := cmp.Diff(want, st.Functions); diff != "" {
		t.Errorf("functions (-want +got):\n%s", diff)
	}
}

func TestGlobalsListsAppend(t *testing.T) {
	g := &node{kind: kSeq, items: []*node{scalar("a", pos{}), scalar("b", pos{})}}
	r := &node{kind: kSeq, items: []*node{scalar("c", pos{})}}
	got := mergeGlobals(g, r)
	var s []string
	for _, it := range got.items {
		s = append(s, it.str)
	}
	if diff := cmp.Diff([]string{"a", "b", "c"}, s); diff != "" {
		t.Error(diff)
	}
}

func TestParameters(t *testing.T) {
	tmpl := `
Parameters:
  Stage:
    Type: String
    Default: dev
    AllowedValues: [dev, prod]
  Size:
    Type: Number
    Default: 10
    MinValue: 1
    MaxValue: 100
  Prefix:
    Type: String
    AllowedPattern: "[a-z]+"
    Default: abc
Resources:
  B:
    Type: AWS::S3::Bucket
    Properties:
      BucketName: !Sub "${Prefix}-${Stage}-${Size}"
`
	ok := []struct {
		name   string
		params map[string]string
		want   string
	}{
		{"defaults", nil, "abc-dev-10"},
		{"overrides", map[string]string{"Stage": "prod", "Size": "100", "Prefix": "xyz"}, "xyz-prod-100"},
	}
	for _, tt := range ok {
		t.Run(tt.name, func(t *testing.T) {
			st, err := load(t, tmpl, Options{Parameters: tt.params})
			if err != nil {
				t.Fatal(err)
			}
			if st.Buckets[0].Name != tt.want {
				t.Errorf("bucket = %q, want %q", st.Buckets[0].Name, tt.want)
			}
		})
	}
	bad := []struct {
		name   string
		params map[string]string
		want   []string
	}{
		{"not allowed", map[string]string{"Stage": "qa"}, []string{`3:3: Parameters.Stage: value "qa" is not one of the AllowedValues: dev, prod`}},
		{"not a number and pattern", map[string]string{"Size": "ten", "Prefix": "A1"}, []string{
			`7:3: Parameters.Size: value "ten" is not a number`,
			`12:3: Parameters.Prefix: value "A1" does not match the AllowedPattern [a-z]+`}},
		{"too large", map[string]string{"Size": "101"}, []string{`7:3: Parameters.Size: value 101 is larger than the MaxValue 100`}},
		{"unknown override", map[string]string{"Nope": "1"}, []string{`2:1: Parameters: override "Nope" names no parameter of the template`}},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			got := errorLines(t, tmpl, Options{Parameters: tt.params})
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("missing value", func(t *testing.T) {
		got := errorLines(t, "Parameters:\n  Name:\n    Type: String\nResources:\n  B:\n    Type: AWS::S3::Bucket\n    Properties:\n      BucketName: !Ref Name\n", Options{})
		want := []string{"2:3: Parameters.Name: no value: the parameter has no Default; give one with --parameter-overrides Name=VALUE"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("errors (-want +got):\n%s", diff)
		}
	})
}

func TestParseOverrides(t *testing.T) {
	tests := []struct {
		in      string
		want    map[string]string
		wantErr bool
	}{
		{"", map[string]string{}, false},
		{"Stage=prod Size=3", map[string]string{"Stage": "prod", "Size": "3"}, false},
		{`Name="a b" Other='x=y'`, map[string]string{"Name": "a b", "Other": "x=y"}, false},
		{"ParameterKey=Stage,ParameterValue=prod", map[string]string{"Stage": "prod"}, false},
		{"Empty=", map[string]string{"Empty": ""}, false},
		{"novalue", nil, true},
		{"A=1 A=2", nil, true},
		{`A="open`, nil, true},
		{"bad-name=1", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseOverrides(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if !tt.wantErr {
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Error(diff)
				}
			}
		})
	}
}

func TestErrorsReportedTogether(t *testing.T) {
	got := errorLines(t, `Transform: AWS::Serverless-2016-10-31
Resources:
  Thumbnailer:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src
      Handler: app.handler
      Runtime: python2.7
      MemorySize: 64
      Timeout: 1000
      Colour: blue
  Photos:
    Type: AWS::S3::Bucket
    Properties:
      BucketName: Not_Valid
  Out:
    Type: AWS::S3::Bucket
    Properties:
      BucketName: !GetAtt Photos.Nope
Outputs:
  X:
    Value: !Ref Missing
`, Options{})
	want := []string{
		`8:7: Resources.Thumbnailer.Properties.Runtime: runtime "python2.7" is not supported: use provided.al2023, provided.al2, go1.x, python3.x or nodejsN.x`,
		`9:7: Resources.Thumbnailer.Properties.MemorySize: must be an integer between 128 and 10240, got "64"`,
		`10:7: Resources.Thumbnailer.Properties.Timeout: must be an integer between 1 and 900, got "1000"`,
		`11:7: Resources.Thumbnailer.Properties.Colour: unknown property (expected one of ` + strings.Join(samFunctionProps, ", ") + `)`,
		`15:7: Resources.Photos.Properties.BucketName: "Not_Valid" is not a valid bucket name: 3-63 lower-case letters, digits, dots and hyphens, starting and ending with a letter or digit`,
		`19:19: Resources.Out.Properties.BucketName: Fn::GetAtt: Photos (AWS::S3::Bucket) has no attribute "Nope" (it has Arn, DomainName, DualStackDomainName, RegionalDomainName, WebsiteURL)`,
		`22:12: Outputs.X.Value: Ref to "Missing": no parameter or resource has that name`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
}

func TestLoadErrors(t *testing.T) {
	fn := func(props string) string {
		return "Transform: AWS::Serverless-2016-10-31\nResources:\n  Fn:\n    Type: AWS::Serverless::Function\n    Properties:\n      Handler: app.handler\n      Runtime: python3.12\n" + props
	}
	tests := []struct {
		name string
		tmpl string
		want []string
	}{
		{"image package", fn("      PackageType: Image\n      ImageUri: repo/fn:latest\n"),
			[]string{"8:7: Resources.Fn.Properties.PackageType: " + imageRefusal}},
		{"no code", fn(""), []string{"6:7: Resources.Fn.Properties: CodeUri (a directory or .zip relative to the template) or InlineCode is required"}},
		{"missing code dir", fn("      CodeUri: nowhere\n"), nil},
		{"s3 event bucket not a ref", fn("      CodeUri: src\n      Events:\n        Up:\n          Type: S3\n          Properties:\n            Bucket: my-bucket\n            Events: s3:ObjectCreated:*\n"),
			[]string{"13:13: Resources.Fn.Properties.Events.Up.Properties.Bucket: must be !Ref to an AWS::S3::Bucket of this template (SAM's rule for S3 events)"}},
		{"unknown event type", fn("      CodeUri: src\n      Events:\n        Api:\n          Type: Http\n"),
			[]string{`11:11: Resources.Fn.Properties.Events.Api.Type: unknown event type "Http" (SAM's types: ` + strings.Join(samEventTypes, ", ") + `; Sluice runs S3 and HttpApi)`}},
		{"bad s3 event name", "Transform: AWS::Serverless-2016-10-31\nResources:\n  B:\n    Type: AWS::S3::Bucket\n  Fn:\n    Type: AWS::Serverless::Function\n    Properties:\n      CodeUri: src\n      Handler: a.b\n      Runtime: python3.12\n      Events:\n        Up:\n          Type: S3\n          Properties:\n            Bucket: !Ref B\n            Events: [s3:ObjectCreated:Nope]\n",
			[]string{`16:13: Resources.Fn.Properties.Events.Up.Properties.Events: unknown S3 event "s3:ObjectCreated:Nope"`}},
		{"import value", "Resources:\n  B:\n    Type: AWS::S3::Bucket\n    Properties:\n      BucketName: !ImportValue other\n",
			[]string{"5:19: Resources.B.Properties.BucketName: Fn::ImportValue is not supported: Sluice runs one stack, so there are no exports to import; pass the value as a Parameter instead"}},
		{"cycle", "Resources:\n  A:\n    Type: AWS::S3::Bucket\n    Properties:\n      BucketName: !Sub \"${B}-x\"\n  B:\n    Type: AWS::S3::Bucket\n    Properties:\n      BucketName: !Ref A\n",
			[]string{"2:3: Resources.A: circular dependency between resources: A -> B -> A"}},
		{"unknown condition", "Resources:\n  A:\n    Type: AWS::S3::Bucket\n    Condition: Nope\n",
			[]string{`4:5: Resources.A.Condition: unknown condition "Nope"`}},
		{"condition refers to resource", "Conditions:\n  C: !Equals [!Ref A, x]\nResources:\n  A:\n    Type: AWS::S3::Bucket\n",
			[]string{"2:15: Conditions.C: conditions can only use parameters and other conditions, not the resource A"}},
		{"globals without transform", "Globals:\n  Function:\n    Timeout: 3\nResources:\n  A:\n    Type: AWS::S3::Bucket\n",
			[]string{"1:1: Globals: Globals need Transform: AWS::Serverless-2016-10-31"}},
		{"globals unknown key", "Transform: AWS::Serverless-2016-10-31\nGlobals:\n  Function:\n    Events: {}\nResources:\n  A:\n    Type: AWS::S3::Bucket\n",
			[]string{"4:5: Globals.Function.Events: this property cannot be set in Globals"}},
		{"no resources", "Description: x\n", []string{"1:1: Resources: a template needs a Resources section with at least one resource"}},
		{"yaml syntax", "Resources:\n  A: [\n", []string{"2:1: invalid YAML: did not find expected node content"}},
		{"duplicate key", "Resources:\n  A:\n    Type: AWS::S3::Bucket\n  A:\n    Type: AWS::S3::Bucket\n", []string{`4:3: duplicate key "A"`}},
		{"edge function not a version", "Resources:\n  D:\n    Type: AWS::CloudFront::Distribution\n    Properties:\n      DistributionConfig:\n        Enabled: true\n        Origins: [{Id: o, DomainName: b.s3.amazonaws.com, S3OriginConfig: {}}]\n        DefaultCacheBehavior:\n          TargetOriginId: o\n          ViewerProtocolPolicy: allow-all\n          ForwardedValues: {QueryString: false}\n          LambdaFunctionAssociations:\n            - EventType: origin-response\n              LambdaFunctionARN: arn:aws:lambda:us-east-1:000000000000:function:f\n",
			[]string{`14:15: Resources.D.Properties.DistributionConfig.DefaultCacheBehavior.LambdaFunctionAssociations[0].LambdaFunctionARN: Lambda@Edge needs a published version (arn:aws:lambda:REGION:ACCOUNT:function:NAME:VERSION), got "arn:aws:lambda:us-east-1:000000000000:function:f": use !Ref Fn.Version with AutoPublishAlias, or an AWS::Lambda::Version`}},
		{"unknown target origin", "Resources:\n  D:\n    Type: AWS::CloudFront::Distribution\n    Properties:\n      DistributionConfig:\n        Enabled: true\n        Origins: [{Id: o, DomainName: b.s3.amazonaws.com}]\n        DefaultCacheBehavior:\n          TargetOriginId: p\n          ViewerProtocolPolicy: allow-all\n          ForwardedValues: {QueryString: false}\n",
			[]string{`9:11: Resources.D.Properties.DistributionConfig.DefaultCacheBehavior.TargetOriginId: no origin has the Id "p"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := errorLines(t, tt.tmpl, Options{})
			if tt.want == nil {
				if len(got) != 1 || !strings.Contains(got[0], "does not exist") {
					t.Errorf("got %q", got)
				}
				return
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestUnsupportedResourceWarns(t *testing.T) {
	st, err := load(t, `
Resources:
  Table:
    Type: AWS::DynamoDB::Table
    Properties:
      TableName: t
  B:
    Type: AWS::S3::Bucket
    Properties:
      BucketName: !Sub "b-${AWS::Region}"
      AccelerateConfiguration: {AccelerationStatus: Enabled}
Outputs:
  Arn:
    Value: !GetAtt Table.Arn
`, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`Resources.Table: resource type AWS::DynamoDB::Table is not supported by Sluice; it is not created (Ref gives "Table")`,
		"Resources.B.Properties.AccelerateConfiguration: ignored by Sluice",
	}
	if diff := cmp.Diff(want, st.Warnings); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
	if st.Outputs[0].Value != "Table.Arn" {
		t.Errorf("GetAtt of an unsupported resource = %q, want the placeholder Table.Arn", st.Outputs[0].Value)
	}
}

func TestJSONTemplate(t *testing.T) {
	st, err := load(t, `{
  "Resources": {
    "B": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": {"Fn::Join": ["-", ["a", {"Ref": "AWS::Region"}]]}}}
  },
  "Outputs": {"N": {"Value": {"Fn::GetAtt": ["B", "Arn"]}}}
}`, Options{Region: "eu-west-1"})
	if err != nil {
		t.Fatal(err)
	}
	if st.Buckets[0].Name != "a-eu-west-1" || st.Outputs[0].Value != "arn:aws:s3:::a-eu-west-1" {
		t.Errorf("got %+v %+v", st.Buckets, st.Outputs)
	}
	got := errorLines(t, "{\n  \"Resources\": {\n    \"B\": {\"Type\": \"AWS::S3::Bucket\", \"Properties\": {\"Bogus\": 1}}\n  }\n}", Options{})
	want := []string{`3:53: Resources.B.Properties.Bogus: unknown property (expected one of BucketName, Tags, VersioningConfiguration, NotificationConfiguration, ReplicationConfiguration)`}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
}

func TestOriginAccessResources(t *testing.T) {
	tmpl := `
Resources:
  Site:
    Type: AWS::S3::Bucket
  Oac:
    Type: AWS::CloudFront::OriginAccessControl
    Properties:
      OriginAccessControlConfig:
        Name: !Sub "${AWS::StackName}-oac"
        OriginAccessControlOriginType: s3
        SigningBehavior: always
        SigningProtocol: sigv4
  Oai:
    Type: AWS::CloudFront::CloudFrontOriginAccessIdentity
    Properties:
      CloudFrontOriginAccessIdentityConfig:
        Comment: legacy
  Cdn:
    Type: AWS::CloudFront::Distribution
    Properties:
      DistributionConfig:
        Enabled: true
        Origins:
          - Id: a
            DomainName: !GetAtt Site.RegionalDomainName
            S3OriginConfig: {}
            OriginAccessControlId: !GetAtt Oac.Id
          - Id: b
            DomainName: !GetAtt Site.DomainName
            S3OriginConfig:
              OriginAccessIdentity: !Sub "origin-access-identity/cloudfront/${Oai}"
        DefaultCacheBehavior:
          TargetOriginId: a
          ViewerProtocolPolicy: allow-all
          ForwardedValues: {QueryString: false}
  Perm:
    Type: AWS::Lambda::Permission
    Properties:
      Action: lambda:InvokeFunction
      FunctionName: arn:aws:lambda:us-east-1:000000000000:function:thing
      Principal: s3.amazonaws.com
Outputs:
  OacId:
    Value: !Ref Oac
  Canonical:
    Value: !GetAtt Oai.S3CanonicalUserId
`
	st, err := load(t, tmpl, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]OriginAccessControl{{LogicalID: "Oac", Name: "demo-oac", OriginType: "s3", SigningBehavior: "always", SigningProtocol: "sigv4"}}, st.OriginAccessControls); diff != "" {
		t.Errorf("OACs (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]OriginAccessIdentity{{LogicalID: "Oai", Comment: "legacy", CallerReference: "demo-Oai"}}, st.OriginAccessIdentities); diff != "" {
		t.Errorf("OAIs (-want +got):\n%s", diff)
	}
	o := st.Distributions[0].Origins
	if o[0].OriginAccessControlID != "{{sluice:Oac.Id}}" || o[1].S3.OriginAccessIdentity != "origin-access-identity/cloudfront/{{sluice:Oai.Id}}" {
		t.Errorf("origins name %q and %q, want deferred ids", o[0].OriginAccessControlID, o[1].S3.OriginAccessIdentity)
	}
	if st.Outputs[0].Value != "{{sluice:Oac.Id}}" || st.Outputs[1].Value != "{{sluice:Oai.S3CanonicalUserId}}" {
		t.Errorf("outputs %+v", st.Outputs)
	}
	if len(st.Warnings) != 0 {
		t.Errorf("warnings: %q", st.Warnings)
	}
	if len(st.Notes) != 1 || !strings.Contains(st.Notes[0], "Resources.Perm: AWS::Lambda::Permission is recorded, not enforced") {
		t.Errorf("notes: %q", st.Notes)
	}

	bad := "Resources:\n  Oac:\n    Type: AWS::CloudFront::OriginAccessControl\n    Properties:\n      OriginAccessControlConfig:\n        Name: x\n        OriginAccessControlOriginType: s4\n        SigningBehavior: sometimes\n        SigningProtocol: sigv4\n"
	want := []string{
		`7:9: Resources.Oac.Properties.OriginAccessControlConfig.OriginAccessControlOriginType: must be s3, mediastore, mediapackagev2 or lambda, got "s4"`,
		`8:9: Resources.Oac.Properties.OriginAccessControlConfig.SigningBehavior: must be never, always or no-override, got "sometimes"`,
	}
	if diff := cmp.Diff(want, errorLines(t, bad, Options{})); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
}

func TestLocalhostName(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1:4566": "localhost:4566", ":3000": "localhost:3000", "[::1]:80": "localhost:80",
		"localhost:4566": "localhost:4566", "example.test:9": "example.test:9", "nonsense": "nonsense",
	} {
		if got := localhostName(in); got != want {
			t.Errorf("localhostName(%q) = %q, want %q", in, got, want)
		}
	}
}

// chainTemplate doubles a bucket name through n resources: without a bound
// on the text intrinsics make, n = 40 would need a terabyte.
func chainTemplate(n int) string {
	var b strings.Builder
	b.WriteString("Resources:\n  B0:\n    Type: AWS::S3::Bucket\n    Properties:\n      BucketName: abc\n")
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "  B%d:\n    Type: AWS::S3::Bucket\n    Metadata:\n      Name: !Join [\"\", [!Ref B%d, !Select [0, !Split [\",\", !Sub \"${B%d},${B%d}\"]]]]\n    Properties:\n      Tags: [{Key: k, Value: !Ref B%d}]\n", i, i-1, i-1, i-1, i-1)
	}
	return b.String()
}

func TestExpansionIsBounded(t *testing.T) {
	_, err := LoadBytes("t/template.yaml", []byte(chainTemplate(3)), Options{StackName: "demo"})
	if err != nil {
		t.Fatalf("a short chain is fine: %v", err)
	}
	tmpl := strings.ReplaceAll(chainTemplate(40), "BucketName: abc", "BucketName: abcdefghijklmnopqrstuvwxyz")
	tmpl = strings.ReplaceAll(tmpl, "Metadata:\n      Name:", "Properties:\n      BucketName:")
	tmpl = strings.ReplaceAll(tmpl, "    Properties:\n      Tags: [{Key: k, Value: !Ref", "    Metadata:\n      Tags: [{Key: k, Value: !Ref")
	_, err = LoadBytes("t/template.yaml", []byte(tmpl), Options{StackName: "demo"})
	var es Errors
	if !errors.As(err, &es) {
		t.Fatalf("want Errors, got %v", err)
	}
	found := false
	for _, e := range es {
		if strings.Contains(e.Message, "values are limited to 1048576 bytes") {
			found = true
		}
		if len(e.Message) > maxMessageBytes+40 {
			t.Errorf("message of %d bytes", len(e.Message))
		}
	}
	if !found {
		t.Errorf("no size error among %d errors: %v", len(es), es)
	}
}

func TestDuplicateKeysInLargeMaps(t *testing.T) {
	var b strings.Builder
	b.WriteString("Resources:\n  B:\n    Type: AWS::S3::Bucket\nMetadata:\n")
	for i := range 40 {
		fmt.Fprintf(&b, "  k%d: 1\n", i)
	}
	b.WriteString("  k3: 2\n  k39: 2\n")
	got := errorLines(t, b.String(), Options{})
	want := []string{`45:3: duplicate key "k3"`, `46:3: duplicate key "k39"`}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
	js := `{"Resources": {"B": {"Type": "AWS::S3::Bucket"}}, "Metadata": {`
	for i := range 30 {
		js += fmt.Sprintf(`"k%d": 1, `, i)
	}
	js += `"k7": 2}}`
	_, err := LoadBytes("t/template.json", []byte(js), Options{StackName: "demo"})
	if err == nil || !strings.Contains(err.Error(), `duplicate key "k7"`) {
		t.Errorf("JSON duplicate: %v", err)
	}
}

func TestBucketPolicyAndEventWarnings(t *testing.T) {
	st, err := load(t, `
Transform: AWS::Serverless-2016-10-31
Resources:
  Site:
    Type: AWS::S3::Bucket
    Properties:
      BucketName: site
  Cdn:
    Type: AWS::CloudFront::Distribution
    Properties:
      DistributionConfig:
        Enabled: true
        Origins: [{Id: o, DomainName: !GetAtt Site.RegionalDomainName, S3OriginConfig: {}}]
        DefaultCacheBehavior: {TargetOriginId: o, ViewerProtocolPolicy: allow-all, ForwardedValues: {QueryString: false}}
  Policy:
    Type: AWS::S3::BucketPolicy
    Properties:
      Bucket: !Ref Site
      PolicyDocument:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Principal: {Service: cloudfront.amazonaws.com}
            Action: s3:GetObject
            Resource: !Sub "${Site.Arn}/*"
            Condition:
              StringEquals:
                AWS:SourceArn: !Sub "arn:aws:cloudfront::${AWS::AccountId}:distribution/${Cdn}"
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src
      Handler: app.handler
      Runtime: python3.12
      Events:
        Queue:
          Type: SQS
          Properties: {Queue: arn:aws:sqs:us-east-1:000000000000:q}
`, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := []BucketPolicy{{LogicalID: "Policy", Bucket: "site",
		Document: `{"Statement":[{"Action":"s3:GetObject","Condition":{"StringEquals":{"AWS:SourceArn":"arn:aws:cloudfront::000000000000:distribution/{{sluice:Cdn.Id}}"}},"Effect":"Allow","Principal":{"Service":"cloudfront.amazonaws.com"},"Resource":"arn:aws:s3:::site/*"}],"Version":"2012-10-17"}`}}
	if diff := cmp.Diff(want, st.BucketPolicies); diff != "" {
		t.Errorf("bucket policies (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"Resources.Fn.Properties.Events.Queue: event type SQS is not supported by Sluice (it runs S3 and HttpApi events); the function is created without it"}, st.Warnings); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}

	bad := "Resources:\n  B:\n    Type: AWS::S3::Bucket\n    Properties: {BucketName: bb1}\n  P:\n    Type: AWS::S3::BucketPolicy\n    Properties:\n      Bucket: !Ref B\n      PolicyDocument:\n        Statement: [{Effect: Allow, Principal: '*', Action: s3:GetObject, Resource: arn:aws:s3:::other/*}]\n"
	got := errorLines(t, bad, Options{})
	if len(got) != 1 || !strings.HasPrefix(got[0], "9:7: Resources.P.Properties.PolicyDocument: S3 would refuse this policy: ") {
		t.Errorf("errors: %q", got)
	}
}
