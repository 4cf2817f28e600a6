// THE definition of what the permissions boundary must remove (SPEC, "What gets
// created in IAM"): writes, and reads of data contents. Everything else a preset
// allows must survive the boundary. Used by coverage.mjs, make-boundary.mjs and
// evaluate.mjs; docs/boundary.md explains every decision.
//
// 1. Writes, by access level in the Service Authorization Reference (iam-data):
//    an action whose level includes "Write", "Permissions management" or
//    "Tagging" is a write. No overrides: a read AWS files under "Permissions
//    management" (e.g. quicksight:DescribeTopicPermissions) counts as a write.
// 2. Data-content reads: the explicit list below, by SPEC category. Entries are
//    exact action names or patterns (`*` / `?` in the action name only) and are
//    matched case-insensitively, as IAM does. Only "Read"/"List" level actions
//    need to be here; a write listed here is harmless.
import { actionMatchesPattern, normaliseLevel } from './lib/catalog.mjs'

export const WRITE_LEVELS = ['Write', 'Permissions management', 'Tagging']

/** SPEC category -> action names/patterns. */
export const DATA_READS = {
  // objects, files and documents in storage services
  objects: [
    's3:GetObject', 's3:GetObjectVersion', 's3:GetObjectTorrent', 's3:GetObjectVersionTorrent',
    's3:GetObjectVersionForReplication',
    's3-object-lambda:GetObject', 's3-object-lambda:GetObjectVersion',
    's3-outposts:GetObject', 's3-outposts:GetObjectVersion', 's3-outposts:GetObjectVersionForReplication',
    's3tables:GetTableData', 's3vectors:GetVectors', 's3vectors:QueryVectors',
    'mediastore:GetObject', 'mediapackagev2:GetObject', 'glacier:GetJobOutput',
    'bedrock:GetDocumentContent', 'iotanalytics:GetDatasetContent', 'iotanalytics:SampleChannelData',
    'lookoutmetrics:GetSampleData', 'healthlake:ReadResource', 'healthlake:SearchWithGet', 'healthlake:SearchWithPost',
    'omics:GetReadSet', 'omics:GetReference', 'workdocs:GetDocumentVersion',
    'transcribe:GetTranscriptionJob', 'transcribe:GetMedicalTranscriptionJob', 'transcribe:GetCallAnalyticsJob',
    'transcribe:GetMedicalScribeJob', // pre-signed transcript URLs
    'security-ir:GetCaseAttachmentDownloadUrl', 'support:DescribeAttachment', 'chime:RetrieveDataExports',
    'quicksight:DescribeDashboardSnapshotJobResult', 'tnb:GetSolFunctionPackageContent', 'tnb:GetSolNetworkPackageContent',
    'snowball:GetJobManifest', 'ebs:GetSnapshotBlock'
  ],
  // items, records, stream records, device state, search hits
  items: [
    'dynamodb:GetItem', 'dynamodb:BatchGetItem', 'dynamodb:Query', 'dynamodb:Scan', 'dynamodb:PartiQLSelect',
    'dynamodb:GetRecords', 'dynamodb:ReadDataForReplication', 'dynamodb:SearchVectors',
    'dax:GetItem', 'dax:BatchGetItem', 'dax:Query', 'dax:Scan',
    'cassandra:Select', 'sdb:Select', 'sdb:GetAttributes', 'qldb:GetBlock', 'qldb:GetRevision', 'timestream:Select',
    'kinesis:GetRecords', 'kinesisvideo:GetMedia', 'kinesisvideo:GetMediaForFragmentList', 'kinesisvideo:GetClip',
    'kinesisvideo:GetImages', 'kinesisvideo:GetHLSStreamingSessionURL', 'kinesisvideo:GetDASHStreamingSessionURL',
    'cognito-sync:ListRecords', 'cognito-sync:QueryRecords', 'iot:GetThingShadow', 'iot:GetRetainedMessage',
    'iotsitewise:GetAssetPropertyValue', 'iotsitewise:GetAssetPropertyValueHistory',
    'iotsitewise:GetInterpolatedAssetPropertyValues', 'forecast:QueryForecast', 'forecast:QueryWhatIfForecast',
    'kendra:Query', 'es:ESHttpGet', 'cloudfront-keyvaluestore:GetKey', 'connect:GetContactAttributes',
    'connect:ListRealtimeContactAnalysisSegments', 'connect:ListRealtimeContactAnalysisSegmentsV2', 'lex:GetSession',
    'bedrock-agentcore:GetMemoryRecord', 'bedrock-agentcore:ListMemoryRecords', 'bedrock-agentcore:RetrieveMemoryRecords',
    'bedrock:GetAgentMemory', 'bedrock:GetInvocationStep', 'sagemaker:GetRecord', 'sagemaker:BatchGetRecord',
    's3vectors:ListVectors' // returns vector data with returnData
  ],
  // messages in queues, channels and archives
  messages: [
    'sqs:ReceiveMessage', 'chime:GetChannelMessage', 'chime:ListChannelMessages', 'ses:GetArchiveMessage',
    'ses:GetArchiveMessageContent', 'ses:GetArchiveSearchResults', 'mobiletargeting:GetInAppMessages',
    'iotwireless:ListQueuedMessages', 'ec2messages:GetMessages'
  ],
  // secret values, parameter values, application configuration content
  secrets_and_parameters: [
    'secretsmanager:GetSecretValue', 'secretsmanager:BatchGetSecretValue',
    'ssm:GetParameter', 'ssm:GetParameters', 'ssm:GetParametersByPath', 'ssm:GetParameterHistory',
    'appconfig:GetConfiguration', 'appconfig:GetLatestConfiguration', 'appconfig:GetHostedConfigurationVersion'
  ],
  decrypt: ['kms:Decrypt', 'kms:GenerateDataKey*', 'wafv2:GetDecryptedAPIKey'],
  // log events, log queries, request samples, database logs
  log_events: [
    'logs:GetLogEvents', 'logs:FilterLogEvents', 'logs:GetLogRecord', 'logs:StartQuery', 'logs:GetQueryResults',
    'logs:StartLiveTail', 'logs:GetLookupTable', 'cloudwatch:GetRecords', 'cloudwatch:GetTelemetryQueryResults',
    'cloudwatch:GenerateQueryResultsSummary', 'rds:DownloadDBLogFilePortion', 'rds:DownloadCompleteDBLogFile',
    'lightsail:GetRelationalDatabaseLogEvents', 'elasticbeanstalk:RetrieveEnvironmentInfo',
    'gamelift:GetGameSessionLogUrl', 'waf:GetSampledRequests', 'waf-regional:GetSampledRequests',
    'wafv2:GetSampledRequests', 'emr-serverless:GetDashboardForJobRun'
  ],
  // function and layer code, image layers and manifests, repository contents, packages
  code_downloads: [
    'lambda:GetFunction', 'lambda:GetLayerVersion', 'ecr:GetDownloadUrlForLayer', 'ecr:BatchGetImage',
    'ecr-public:BatchGetImage', 'codecommit:GetBlob', 'codecommit:GetFile', 'codecommit:GitPull',
    'codecommit:GetBlobDifferences', 'codeartifact:ReadFromRepository', 'codeartifact:GetPackageVersionAsset',
    'greengrass:GetComponentVersionArtifact', 'inspector2:BatchGetCodeSnippet', 'athena:GetCalculationExecutionCode',
    'lex:GetTestExecutionArtifactsUrl', 'amplify:GetArtifactUrl'
  ],
  // EC2 instance user data (and UEFI variable store)
  instance_user_data: ['ec2:GetLaunchTemplateData', 'ec2:DescribeInstanceAttribute', 'ec2:GetInstanceUefiData'],
  console_output_and_screenshots: ['ec2:GetConsoleOutput', 'ec2:GetConsoleScreenshot'],
  // what a command, automation, workflow or execution received or produced
  command_and_execution_io: [
    'ssm:GetCommandInvocation', 'ssm:ListCommandInvocations', 'ssm:ListCommands', 'ssm:GetAutomationExecution',
    'ssm:DescribeAutomationExecutions', 'ssm:DescribeAutomationStepExecutions',
    'ssm:GetMaintenanceWindowExecutionTask', 'ssm:GetMaintenanceWindowExecutionTaskInvocation',
    'ssm:DescribeMaintenanceWindowExecutionTaskInvocations', 'states:DescribeExecution', 'states:GetExecutionHistory',
    'lambda:GetDurableExecution', 'lambda:GetDurableExecutionHistory', 'lambda:GetDurableExecutionState',
    'swf:GetWorkflowExecutionHistory', 'iot:GetCommandExecution', 'codebuild:BatchGetCommandExecutions'
  ],
  query_results: [
    'athena:GetQueryResults', 'athena:GetQueryResultsStream', 'iotsitewise:GetQueryResults',
    'redshift:ViewQueriesFromConsole', 'redshift-data:GetStatementResult', 'redshift-data:GetStatementResultV2',
    'cleanrooms:GetProtectedQuery'
  ],
  credentials_and_tokens: [
    'sts:GetSessionToken', 'sts:GetFederationToken', 'ecr:GetAuthorizationToken', 'ecr-public:GetAuthorizationToken',
    'codeartifact:GetAuthorizationToken', 'ec2:GetPasswordData', 'redshift:GetClusterCredentials',
    'redshift:GetClusterCredentialsWithIAM', 'redshift-serverless:GetCredentials',
    'cognito-identity:GetCredentialsForIdentity', 'cognito-identity:GetOpenIdToken',
    'cognito-identity:GetOpenIdTokenForDeveloperIdentity', 'cognito-idp:GetUserAttributeVerificationCode',
    'cognito-idp:ListUserPoolClientSecrets', 'connect:GetFederationToken', 'license-manager:GetAccessToken',
    'ssm:GetAccessToken', 'gamelift:GetComputeAccess', 'gamelift:GetComputeAuthToken', 'gamelift:GetInstanceAccess',
    'acm:GetAcmeExternalAccountBindingCredentials', 'storagegateway:DescribeChapCredentials',
    'snowball:GetJobUnlockCode', 'cloudwatch:GetSpaceCredentials', 'cloudwatch:GetSpaceCredentialsForOrganization',
    'appsync:ListApiKeys', 'devicefarm:GetRemoteAccessSession', 'gameliftstreams:GetStreamUrl',
    'elasticmapreduce:GetClusterSessionCredentials', 'lightsail:GetInstanceAccessDetails',
    'lightsail:GetRelationalDatabaseMasterUserPassword',
    'codepipeline:GetJobDetails', 'codepipeline:GetThirdPartyJobDetails', // artifact-store credentials
    'emr-serverless:GetSessionEndpoint'
  ]
}

/**
 * Denied in every service the boundary leaves open, whatever a preset grants:
 * the credential reads above, and the calls that mint credentials or reach
 * another identity's (cloudsplaining's credentials-exposure and
 * privilege-escalation lists, as checkov runs them on the templates). A preset
 * never attaches them; this keeps them out of a role even if a policy other than
 * a preset were ever put on it.
 */
export const DENIED_WHEN_OPEN = [
  ...DATA_READS.credentials_and_tokens,
  'appsync:CreateApiKey', 'chime:CreateApiKey', 'cloud9:CreateEnvironmentToken', 'cognito-idp:GetSigningCertificate',
  'emr-containers:GetManagedEndpointSessionCredentials', 'finspace-api:GetProgrammaticAccessCredentials',
  'gamelift:RequestUploadCredentials', 'grafana:CreateWorkspaceApiKey', 'lightsail:CreateBucketAccessKey',
  'lightsail:DownloadDefaultKeyPair', 'mediapackage:RotateChannelCredentials',
  'mediapackage:RotateIngestEndpointCredentials', 'glue:UpdateDevEndpoint', 'airflow:CreateCliToken',
  'airflow:CreateWebLoginToken', 'codepipeline:PollForJobs', 'codepipeline:PollForThirdPartyJobs', 'connect:GetFederationTokens'
]

/**
 * Reads that stay although they can return values an auditor does not need,
 * with the reason (docs/boundary.md, "Decisions"). coverage.mjs prints them so
 * the decision stays visible.
 */
export const KEPT_ON_PURPOSE = {
  'ecs:DescribeTaskDefinition': 'the only source of a container\'s security settings (privileged, user, read-only root, secrets by reference, task role); returns plain `environment` values: storing secrets there is itself a finding (Security Hub ECS.8)',
  'lambda:GetFunctionConfiguration': 'runtime, role, VPC, layers, URL auth of a function; returns environment variables (same reasoning as task definitions; Security Hub Lambda controls)',
  'codebuild:BatchGetProjects': 'build project configuration (privileged mode, source credentials by reference); plaintext environment variables are a finding (Security Hub CodeBuild.2)',
  'ec2:DescribeLaunchTemplateVersions': 'launch template settings (IMDSv2, public IP, instance profile); user data is one field of the answer and cannot be filtered by IAM',
  'autoscaling:DescribeLaunchConfigurations': 'launch configuration settings (IMDSv2, public IP); user data is one field of the answer',
  'apigateway:GET': 'every API Gateway read is this one action; the boundary denies it on the API-key resources (/apikeys, /apikeys/*) only, so key values stay out of reach',
  'cloudtrail:LookupEvents': 'management events are the audit trail itself (SPEC: kept)',
  'cloudtrail:GetQueryResults': 'CloudTrail Lake results are audit events, like LookupEvents',
  'config:SelectResourceConfig': 'AWS Config advanced queries over configuration items (SPEC: kept)',
  'xray:BatchGetTraces': 'trace segments are operational telemetry (timings, URLs, annotations), not log events',
  'ssm:GetDocument': 'SSM documents are runbook/configuration definitions the auditor reviews'
}

/** Resource-scoped data reads the boundary denies on specific resources only. */
export const RESOURCE_SCOPED_DENIES = [
  {
    sid: 'DenyApiKeys',
    actions: ['apigateway:GET'],
    resources: ['arn:aws:apigateway:*::/apikeys', 'arn:aws:apigateway:*::/apikeys/*'],
    why: 'GET /apikeys?includeValues=true and GET /apikeys/{id}?includeValue=true return API key values'
  }
]

export const ALL_DATA_READS = Object.values(DATA_READS).flat()

/** The SPEC category of a data read, or undefined. */
export function dataReadCategory(action) {
  for (const [category, patterns] of Object.entries(DATA_READS)) {
    if (patterns.some((p) => actionMatchesPattern(action, p))) return category
  }
  return undefined
}

/** Why an action is excluded ('write: <level>' | 'data: <category>'), or undefined if it must survive. */
export function exclusionReason(entry) {
  const level = normaliseLevel(entry.rawLevel ?? entry.level)
  if (WRITE_LEVELS.includes(level)) return `write: ${level}`
  const category = dataReadCategory(entry.action)
  if (category) return `data: ${category}`
  return undefined
}
