# frozen_string_literal: true

require_relative 'helper'

# The rendered files against the real broker binary: check-config accepts broker.yml,
# post-start sees the running broker with the credentials read from broker.yml, and drain
# stops it. Skipped, with a note, when target/debug/on-demand-broker is not built.
class WithBrokerTest < Minitest::Test
  include ReleaseTest::Helpers

  %w[minimal full].each do |name|
    define_method("test_check_config_accepts_the_#{name}_rendering") do
      skip_without_broker
      props = fixture(name)
      Dir.mktmpdir do |dir|
        out, status = check_config(localise(render('config/broker.yml', props), props, dir))
        assert status.success?, "check-config refused the #{name} rendering:\n#{out}"
        assert_match(/: OK$/, out)
        refute_includes out, 'warning:', 'every key the template writes is one the broker knows'
      end
    end
  end

  def test_check_config_accepts_secure_bindings_from_the_link_sealing_keys_and_simulated_secure_manifests
    skip_without_broker
    props = secure_bindings('enable_secure_manifests' => true,
                            'secure_binding_credentials' => { 'authentication' => { 'uaa' => { 'ca_cert' => fixture_ca } } },
                            'database' => { 'encryption' => { 'keys' => [
                              { 'label' => 'key-2', 'secret' => 'k2-0123456789abcdef0123456789abcdef', 'primary' => true },
                              { 'label' => 'key-1', 'secret' => 'k1-0123456789abcdef0123456789abcdef' }
                            ] } })
    Dir.mktmpdir do |dir|
      text = render('config/broker.yml', props, links: { 'credhub' => credhub_link })
      assert_includes text, 'api_url: https://credhub.service.cf.internal:8844'
      out, status = check_config(localise(text, props, dir))
      assert status.success?, "check-config refused the rendering:\n#{out}"
      refute_includes out, 'warning:', out
      input_secrets = ['runtime-credhub-client-secret', 'k2-0123456789abcdef0123456789abcdef', 'k1-0123456789abcdef0123456789abcdef']
      input_secrets.each { |s| refute_includes out, s }
    end
  end

  def test_check_config_and_the_template_agree_on_a_short_key_secret
    skip_without_broker
    props = deep_merge(fixture('minimal'), 'database' => { 'encryption' => { 'keys' => [{ 'label' => 'k', 'secret' => 'x' * 32, 'primary' => true }] } })
    Dir.mktmpdir do |dir|
      text = localise(render('config/broker.yml', props), props, dir)
      assert check_config(text)[1].success?, 'a 32-byte secret is long enough for both'
      out, status = check_config(text.sub('x' * 32, 'x' * 31))
      refute status.success?, 'the broker refuses 31 bytes, as the template does'
      assert_includes out, 'database.encryption.keys[0].secret'
    end
  end

  def test_check_config_accepts_legacy_argv_mode_with_the_opt_in_and_warns
    skip_without_broker
    props = deep_merge(fixture('minimal'), 'use_stdin' => false, 'service_adapter' => { 'allow_secrets_on_argv' => true })
    Dir.mktmpdir do |dir|
      out, status = check_config(localise(render('config/broker.yml', props), props, dir))
      assert status.success?, "check-config refused the legacy argv rendering:\n#{out}"
      assert_includes out, 'warning: broker.use_stdin is false'
      assert_includes out, 'ps'
    end
  end

  def test_check_config_names_a_missing_adapter
    skip_without_broker
    props = fixture('full')
    Dir.mktmpdir do |dir|
      text = render('config/broker.yml', props).gsub(props['database']['path'], File.join(dir, 'broker.db'))
      out, status = check_config(text)
      refute status.success?
      assert_includes out, 'service_adapter.path'
    end
  end

  # A broker started from the rendered broker.yml (simulated director, built-in adapter),
  # with a password that needs every kind of quoting.
  def with_running_broker(post_start_timeout: 20)
    skip_without_broker
    skip 'curl not installed; skipping' unless system('command -v curl >/dev/null 2>&1')
    port = free_port
    props = deep_merge(fixture('minimal'), 'port' => port, 'password' => fixture('full')['password'],
                                           'post_start_timeout_in_seconds' => post_start_timeout,
                                           'shutdown_timeout_in_seconds' => 5)
    Dir.mktmpdir do |dir|
      config = File.join(dir, 'broker.yml')
      File.write(config, localise(render('config/broker.yml', props), props, dir))
      log = File.join(dir, 'broker.log')
      pid = Process.spawn({ 'NO_COLOR' => '1' }, ReleaseTest::BROKER_BIN, 'serve', '--config', config,
                          %i[out err] => log, pgroup: true)
      begin
        yield props: props, dir: dir, config: config, pid: pid, log: log
      ensure
        begin
          Process.kill('KILL', pid)
        rescue Errno::ESRCH
          nil
        end
        Process.wait(pid) rescue nil # rubocop:disable Style/RescueModifier
      end
    end
  end

  def script(template, props, dir, replacements)
    text = render(template, props)
    replacements.each { |from, to| text = text.gsub(from, to) }
    path = File.join(dir, File.basename(template))
    File.write(path, text)
    File.chmod(0o755, path)
    path
  end

  def test_post_start_waits_for_the_catalog_with_the_credentials_from_broker_yml
    with_running_broker do |b|
      post_start = script('bin/post-start', b[:props], b[:dir], '/var/vcap/jobs/broker/config/broker.yml' => b[:config])
      out, status = Open3.capture2e(post_start)
      assert status.success?, "post-start failed:\n#{out}\n--- broker log ---\n#{File.read(b[:log])}"
      assert_includes out, 'is ready and answers GET /v2/catalog with 200'
    end
  end

  def test_post_start_fails_with_a_clear_message_when_credentials_are_refused
    with_running_broker(post_start_timeout: 2) do |b|
      wrong = File.join(b[:dir], 'wrong.yml')
      File.write(wrong, File.read(b[:config]).sub(/^  password: .*$/, '  password: "not-the-password"'))
      post_start = script('bin/post-start', b[:props], b[:dir], '/var/vcap/jobs/broker/config/broker.yml' => wrong)
      out, status = Open3.capture2e(post_start)
      refute status.success?
      assert_includes out, 'was not ready and answering'
      assert_includes out, 'last readiness status: 200, last catalog status: 401'
      refute_includes out, b[:props]['password']
    end
  end

  def test_drain_stops_the_broker_and_prints_zero
    with_running_broker do |b|
      post_start = script('bin/post-start', b[:props], b[:dir], '/var/vcap/jobs/broker/config/broker.yml' => b[:config])
      _, status = Open3.capture2e(post_start)
      assert status.success?, 'the broker is up before draining'
      pidfile = File.join(b[:dir], 'broker.pid')
      File.write(pidfile, "#{b[:pid]}\n")
      drain = script('bin/drain', b[:props], b[:dir], '/var/vcap/sys/run/bpm/broker/broker.pid' => pidfile)
      out, err, status = Open3.capture3(drain)
      assert status.success?, err
      assert_equal "0\n", out, 'a drain script prints only an integer on stdout'
      _, exit_status = Process.wait2(b[:pid], Process::WNOHANG)
      refute_nil exit_status, 'the broker exited during drain'
      assert exit_status.success? || exit_status.signaled?, "broker exit: #{exit_status.inspect}"
    end
  end

  def test_drain_without_a_running_broker_prints_zero
    Dir.mktmpdir do |dir|
      drain = script('bin/drain', fixture('minimal'), dir, '/var/vcap/sys/run/bpm/broker/broker.pid' => File.join(dir, 'none.pid'))
      out, status = Open3.capture2(drain)
      assert status.success?
      assert_equal "0\n", out
    end
  end
end

# packages/*/packaging run as on a compilation VM, with stand-in binary tarballs.
class PackagingTest < Minitest::Test
  ReleaseTest::PACKAGES.each do |package, binary|
    define_method("test_packaging_#{package.tr('-', '_')}_installs_bin_#{binary.tr('-', '_')}") do
      Dir.mktmpdir do |dir|
        compile = File.join(dir, 'compile')
        install = File.join(dir, 'install')
        staging = File.join(dir, 'staging')
        FileUtils.mkdir_p([compile, install, staging])
        spec = YAML.safe_load(File.read(File.join(ReleaseTest::RELEASE_DIR, 'packages', package, 'spec')))
        assert_equal [], spec['dependencies'] || []
        assert_equal ["#{package}/#{package}-linux-amd64.tgz"], spec['files']
        File.write(File.join(staging, binary), "#!/bin/sh\necho stand-in #{binary}\n")
        File.chmod(0o644, File.join(staging, binary)) # packaging must make it executable
        File.write(File.join(staging, 'stray-file'), 'not installed')
        FileUtils.mkdir_p(File.join(compile, package))
        _, status = Open3.capture2e('tar', '-czf', File.join(compile, spec['files'][0]), '-C', staging, binary, 'stray-file')
        assert status.success?

        out, status = Open3.capture2e({ 'BOSH_INSTALL_TARGET' => install }, 'bash', '-e',
                                      File.join(ReleaseTest::RELEASE_DIR, 'packages', package, 'packaging'), chdir: compile)
        assert status.success?, out
        installed = File.join(install, 'bin', binary)
        assert File.executable?(installed), "#{installed} is executable"
        assert_equal ["bin/#{binary}"], Dir.glob('**/*', base: install).reject { |f| File.directory?(File.join(install, f)) }
        assert_equal "stand-in #{binary}\n", `#{installed}`
      end
    end
  end
end
